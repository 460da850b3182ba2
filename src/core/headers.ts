/**
 * Response headers: a name maps to one value or, when a function sends it more than once
 * (Set-Cookie), to every value in order, so each reaches the client as its own header line.
 * Names are lower-case.
 */
export type HeaderValue = string | string[];
export type ResponseHeaders = Record<string, HeaderValue>;

/** Add a value, keeping the ones already there. */
export function appendHeader(headers: ResponseHeaders, name: string, value: string): void {
  const had = headers[name];
  if (had === undefined) headers[name] = value;
  else if (Array.isArray(had)) had.push(value);
  else headers[name] = [had, value];
}

/** One string for a header: repeated values joined with ", " (RFC 9110's list form). */
export function headerText(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
