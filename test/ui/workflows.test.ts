/**
 * The dashboard's workflow pages in headless Chromium against a real node: the list, deploying a
 * definition from the form, the state machine drawn, a run from the page, its states coloured on
 * the graph and listed with their reports. Screenshots go to test-artifacts/ui/.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO, startTern, type TernProcess } from '../helpers/node.js';
import { deployExample, deployFunction, deployWorkflow, FUNCTIONS } from '../workflows/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(REPO, 'test-artifacts/ui');
const WAIT_MS = 60_000;

const CATCHING = {
  StartAt: 'Square',
  States: {
    Square: { Type: 'Task', Resource: 'square', InputPath: '$.x', ResultPath: '$.squared', Next: 'Try' },
    Try: {
      Type: 'Task',
      Resource: 'boom',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Done' }],
      Next: 'Never',
    },
    Never: { Type: 'Pass', End: true },
    Done: { Type: 'Succeed' },
  },
};

describe('dashboard: workflows', () => {
  let node: TernProcess;
  let work: string;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
    await mkdir(ARTIFACTS, { recursive: true });
    work = await mkdtemp(join(tmpdir(), 'tern-ui-wf-'));
    node = await startTern({ args: ['--grpc-port', '-1'] });
    await deployExample(node, 'square');
    await deployFunction(node, 'boom', FUNCTIONS.boom!);
    await deployWorkflow(node, 'listed', { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } });
    context = await chromium.launchPersistentContext(join(work, 'profile'), {
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
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
    assert.equal(code, 0);
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });

  test('list, deploy from the form, run, and read each state of the run on the graph', async () => {
    await page.goto(`${node.url}/ui/#/workflows`);
    await page.getByTestId('login-token').fill(node.token);
    await page.getByTestId('login-submit').click();
    await page.locator('[data-testid=wf-row][data-name="listed"]').waitFor();

    await page.getByTestId('wf-name').fill('catching');
    await page.getByTestId('wf-definition').fill(JSON.stringify(CATCHING, null, 2));
    await page.getByTestId('wf-deploy-submit').click();
    await page.getByTestId('workflow-graph').waitFor();
    assert.equal(await page.getByTestId('wf-title').textContent(), 'catching');
    assert.equal(await page.locator('[data-testid=workflow-graph] [data-state]').count(), 4);

    await page.getByTestId('wf-input').fill('{"x": 12}');
    await page.getByTestId('wf-run-submit').click();
    await page.locator('[data-testid=wf-state-row][data-state="Try"][data-status="caught"]').waitFor();
    await page.locator('[data-testid=workflow-graph] [data-state="Square"][data-status="succeeded"]').waitFor();
    await page.locator('[data-testid=workflow-graph] [data-state="Try"][data-status="caught"]').waitFor();
    assert.equal(await page.locator('[data-testid=workflow-graph] [data-state="Never"][data-status=""]').count(), 1);
    const rows = await page
      .locator('[data-testid=wf-state-row]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    assert.deepEqual(rows, ['Square', 'Try', 'Done']);
    assert.match((await page.getByTestId('wf-run-detail').textContent()) ?? '', /"squared": 144/);
    await page.screenshot({ path: join(ARTIFACTS, 'workflow.png'), fullPage: true });
  });
});
