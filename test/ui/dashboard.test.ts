/**
 * The dashboard at /ui/ end to end: headless Chromium (Debian's) driven by playwright-core against a
 * real `tern serve`. Logs in, lists and invokes a function, follows its logs, deploys an archive
 * through the file chooser, deletes with the confirm dialog, and is sent back to login by a refused
 * token. Screenshots go to test-artifacts/ui/.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { create as createTar } from 'tar';
import { REPO, startTern, type TernProcess } from '../helpers/node.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = join(REPO, 'test-artifacts/ui');
const FIXTURES = join(REPO, 'test/fixtures/ui');
/** Generous: python cold starts on a slow, shared 2-core machine. */
const WAIT_MS = 60_000;

/** The example to deploy first: examples/hello-python when present, else the test's own. */
const HELLO_DIR = existsSync(join(REPO, 'examples/hello-python/function.toml'))
  ? join(REPO, 'examples/hello-python')
  : join(FIXTURES, 'hello');
const HELLO = basename(HELLO_DIR);

/** Pack a function folder as <out>/<fileName> (.tar.gz, function.toml at the root). */
async function packFolder(dir: string, out: string, fileName: string): Promise<string> {
  const file = join(out, fileName);
  const entries = await readdir(dir);
  await createTar({ gzip: true, file, cwd: dir, portable: true }, entries);
  return file;
}

async function deployByApi(node: TernProcess, name: string, archive: string): Promise<void> {
  const res = await node.api('PUT', `/v1/functions/${name}`, {
    body: await readFile(archive),
    headers: { 'content-type': 'application/gzip' },
  });
  assert.ok(res.status === 201 || res.status === 200, `deploy ${name}: ${res.status} ${await res.text()}`);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

describe('dashboard', () => {
  let node: TernProcess;
  let work: string;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium chromium-driver`);
    await mkdir(ARTIFACTS, { recursive: true });
    work = await mkdtemp(join(tmpdir(), 'tern-ui-test-'));
    node = await startTern({ args: ['--grpc-port', '-1'] });
    const health = await fetch(`${node.url}/healthz`);
    assert.equal(health.status, 200);

    await deployByApi(node, HELLO, await packFolder(HELLO_DIR, work, 'hello.tar.gz'));
    await deployByApi(node, 'printer', await packFolder(join(FIXTURES, 'printer'), work, 'printer.tar.gz'));
    await deployByApi(node, 'failing', await packFolder(join(FIXTURES, 'failing'), work, 'failing.tar.gz'));

    context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 1360, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  after(async () => {
    await context?.close();
    const code = await node?.stop({ cleanup: true });
    if (work) await rm(work, { recursive: true, force: true });
    assert.equal(code, 0, 'the node exits cleanly');
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });

  test('a wrong token is refused; the right one opens the functions list', async () => {
    await page.goto(`${node.url}/ui/`);
    await page.getByTestId('login-token').waitFor();
    await shot(page, 'login');

    await page.getByTestId('login-token').fill('not-the-token');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').waitFor();
    assert.match((await page.getByTestId('login-error').textContent()) ?? '', /not valid/);

    await page.getByTestId('login-token').fill(node.token);
    await page.getByTestId('login-submit').click();
    await page.locator(`[data-testid=function-row][data-name="${HELLO}"]`).waitFor();
    await page.locator('[data-testid=function-row][data-name="printer"]').waitFor();
    assert.equal(await page.evaluate('sessionStorage.getItem("tern.token")'), node.token);
    assert.equal(await page.evaluate('localStorage.length'), 0, 'the token is kept for the session only');

    const row = page.locator('[data-testid=function-row][data-name="printer"]');
    assert.match((await row.textContent()) ?? '', /python/);
    await shot(page, 'functions');
  });

  test('invoke a function from its page and read the result and report', async () => {
    await page.locator(`[data-testid=function-row][data-name="${HELLO}"] [data-testid=function-link]`).click();
    await page.getByTestId('invoke-form').waitFor();
    assert.equal(await page.getByTestId('function-name').textContent(), HELLO);

    await page.getByTestId('invoke-method').selectOption('POST');
    await page.getByTestId('invoke-body').fill('ui test');
    await page.getByTestId('invoke-submit').click();
    await page.getByTestId('invoke-status').waitFor();
    assert.match((await page.getByTestId('invoke-status').textContent()) ?? '', /^200\b/);
    const body = (await page.getByTestId('invoke-response').textContent()) ?? '';
    assert.ok(body.trim().length > 0, 'the response body is shown');
    if (HELLO_DIR.startsWith(FIXTURES)) assert.match(body, /hello, ui test/);

    const report = page.getByTestId('invoke-report');
    assert.match((await report.locator('[data-key=start]').textContent()) ?? '', /^(cold|warm)$/);
    assert.match((await report.locator('[data-key=node]').textContent()) ?? '', /\S/);
    // The call shows in the recent calls (from the node, or as made from the page).
    await page.getByTestId('call-row').first().waitFor();
    await shot(page, 'function');
  });

  test("a function's logs follow live", async () => {
    await page.goto(`${node.url}/ui/#/functions/printer`);
    await page.locator('[data-testid=log-state][data-state=live]').waitFor();
    await page.getByTestId('invoke-submit').click();
    await page.getByTestId('invoke-status').waitFor();
    assert.match((await page.getByTestId('invoke-status').textContent()) ?? '', /^200\b/);
    assert.equal(((await page.getByTestId('invoke-response').textContent()) ?? '').trim(), 'ok');
    await page.locator('[data-testid=log-line]', { hasText: 'ui-log-marker' }).first().waitFor();
  });

  test('a function failing on every call: its errors in the list, code and message in its calls, call ids in its logs', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${node.url}/fn/failing`, { method: 'POST', body: 'x' });
      assert.ok(res.status >= 500, `the call fails: ${res.status}`);
    }
    await page.getByTestId('nav-functions').click();
    const errors = page.locator('[data-testid=function-row][data-name="failing"] [data-testid=function-errors]');
    await page
      .locator('[data-testid=function-row][data-name="failing"] [data-testid=function-errors][data-errors="2"]')
      .waitFor();
    assert.equal(await errors.getAttribute('data-rate'), '1', 'every recent call failed');
    assert.match((await errors.getAttribute('class')) ?? '', /failing/);
    assert.match((await errors.textContent()) ?? '', /2 · 100% recent/);
    const healthy = page.locator('[data-testid=function-row][data-name="printer"] [data-testid=function-errors]');
    assert.equal(await healthy.getAttribute('data-errors'), '0');
    await shot(page, 'functions-with-errors');

    await page.goto(`${node.url}/ui/#/functions/failing`);
    const error = page.getByTestId('call-error').first();
    await error.waitFor();
    assert.match((await error.getAttribute('data-code')) ?? '', /^function_\w+$/);
    assert.match((await error.textContent()) ?? '', /ui-broken on purpose/);
    assert.match((await page.getByTestId('stat-errors').textContent()) ?? '', /^2/);

    // The log view keeps each line's call id: the same id as the call's row.
    const logged = page.locator('[data-testid=log-line]', { hasText: 'ui-failing-marker' }).first();
    await logged.waitFor();
    const callId = await logged.getByTestId('log-call').getAttribute('data-call');
    assert.ok(callId, 'the log line names its call');
    const rows = await page.getByTestId('call-row').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-call')));
    assert.ok(rows.includes(callId), `call ${callId} is one of the recent calls ${rows.join(', ')}`);
    await shot(page, 'function-failing');
  });

  test('the latency and cold-start charts draw the calls from /metrics', async () => {
    // Sampled every 2 s: a call made now shows in the next sample's point.
    await page.getByTestId('invoke-submit').click();
    await page.getByTestId('invoke-status').waitFor();
    await page
      .locator('[data-testid=chart-latency][data-active=true] svg :is(polyline, circle)')
      .first()
      .waitFor({ state: 'attached' });
    await page.locator('[data-testid=chart-cold][data-active=true]').waitFor();
    await shot(page, 'logs-and-charts');
  });

  test('deploy by choosing an archive file; the name defaults to its base name', async () => {
    const archive = await packFolder(join(FIXTURES, 'hello'), work, 'ui-uploaded.tar.gz');
    await page.getByTestId('nav-functions').click();
    await page.getByTestId('deploy-file').setInputFiles(archive);
    assert.equal(await page.getByTestId('deploy-name').inputValue(), 'ui-uploaded');
    await page.getByTestId('deploy-submit').click();
    await page.locator('[data-testid=deploy-result][data-state=ok]').waitFor();
    await page.locator('[data-testid=function-row][data-name="ui-uploaded"]').waitFor();
    assert.equal((await node.api('GET', '/v1/functions/ui-uploaded')).status, 200);
    await shot(page, 'deployed');
  });

  test('delete asks for confirmation in a dialog; cancel keeps, confirm removes', async () => {
    await page.locator('[data-testid=function-row][data-name="ui-uploaded"] [data-testid=function-link]').click();
    await page.getByTestId('fn-delete').click();
    await page.getByTestId('confirm-dialog').waitFor();
    await shot(page, 'confirm-delete');
    await page.getByTestId('confirm-cancel').click();
    await page.getByTestId('confirm-dialog').waitFor({ state: 'detached' });
    assert.equal((await node.api('GET', '/v1/functions/ui-uploaded')).status, 200, 'cancel keeps the function');

    await page.getByTestId('fn-delete').click();
    await page.getByTestId('confirm-ok').click();
    await page.getByTestId('functions-table').waitFor();
    await page.locator('[data-testid=function-row][data-name="ui-uploaded"]').waitFor({ state: 'detached' });
    assert.equal((await node.api('GET', '/v1/functions/ui-uploaded')).status, 404);
  });

  test('the nodes page shows this node with its load and runtimes', async () => {
    await page.getByTestId('nav-nodes').click();
    await page.locator('[data-testid=node-row]').first().waitFor();
    assert.match((await page.getByTestId('nodes-table').textContent()) ?? '', /this node/);
    await page.locator('[data-testid=runtimes] li[data-runtime=python]').waitFor();
    await shot(page, 'nodes');
  });

  test('a refused token sends the user back to login', async () => {
    await page.evaluate('sessionStorage.setItem("tern.token", "a-stale-token")');
    await page.goto(`${node.url}/ui/#/functions/printer`);
    await page.getByTestId('login-token').waitFor();
    assert.equal(await page.evaluate('sessionStorage.getItem("tern.token")'), null);
    // Logging in again returns to the page asked for.
    await page.getByTestId('login-token').fill(node.token);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('invoke-form').waitFor();
    assert.equal(await page.getByTestId('function-name').textContent(), 'printer');
  });
});
