/** Fetching the zip that tinyFaaS's /uploadURL names: http(s) only, bounded in size and time. */
import { TernError } from '../../core/errors.js';

const DOWNLOAD_TIMEOUT_MS = 60_000;

export async function downloadZip(url: string, maxBytes: number): Promise<Buffer> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TernError('bad_request', `url ${JSON.stringify(url)}: not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new TernError('bad_request', `url: only http and https URLs are fetched, not ${parsed.protocol}`);
  let response: Response;
  try {
    response = await fetch(parsed, { redirect: 'follow', signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  } catch (e) {
    throw new TernError('bad_request', `url: cannot fetch ${parsed.href}: ${(e as Error).message}`);
  }
  if (!response.ok || !response.body)
    throw new TernError('bad_request', `url: ${parsed.href} answered ${response.status}`);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      size += chunk.length;
      if (size > maxBytes) throw new TernError('too_large', `url: ${parsed.href} is more than ${maxBytes} bytes`);
      chunks.push(Buffer.from(chunk));
    }
  } catch (e) {
    if (e instanceof TernError) throw e;
    throw new TernError('bad_request', `url: reading ${parsed.href} failed: ${(e as Error).message}`);
  } finally {
    // Stop the transfer when the limit cut it short.
    await response.body.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks);
}
