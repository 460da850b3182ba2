/** `tern workflow deploy|invoke|ls|describe|runs|rm`: workflows (ASL documents) on a node. */
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { Command, Option } from 'commander';
import { Client, errorFrom, type ClientOptions } from './client.js';

interface WorkflowDescription {
  name: string;
  version: string;
  updatedAt: string;
  states: number;
  functions: string[];
}

const out = (s: string): void => {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
};
const path = (name: string) => `/v1/workflows/${encodeURIComponent(name)}`;

export async function deployWorkflow(file: string, opts: ClientOptions & { name?: string }): Promise<void> {
  const text = await readFile(file, 'utf8').catch((e: unknown) => {
    throw new Error(`${file}: ${(e as Error).message}`);
  });
  const name = opts.name ?? basename(file, extname(file));
  const client = new Client(opts);
  const res = await client.request('PUT', path(name), { body: text, headers: { 'content-type': 'application/json' } });
  const body = await res.text();
  if (!res.ok) throw errorFrom(res.status, body);
  const wf = JSON.parse(body) as WorkflowDescription;
  out(
    `${res.status === 201 ? 'deployed' : 'updated'} workflow ${wf.name} (${wf.states} states, functions: ${wf.functions.join(', ') || 'none'})`,
  );
  out(`run: ${client.base}/wf/${wf.name}`);
}

async function inputOf(data: string | undefined): Promise<string> {
  if (data === undefined) return '{}';
  return data.startsWith('@') ? readFile(data.slice(1), 'utf8') : data;
}

export async function invokeWorkflow(
  name: string,
  opts: ClientOptions & { data?: string; async?: boolean; report?: boolean },
): Promise<void> {
  const client = new Client(opts);
  const body = await inputOf(opts.data);
  const res = await client.request('POST', `${opts.async ? '/async' : ''}/wf/${encodeURIComponent(name)}`, {
    body,
    headers: { 'content-type': 'application/json' },
    auth: 'when-asked',
  });
  const text = await res.text();
  if (opts.async) {
    if (res.status !== 202) throw errorFrom(res.status, text);
    out((JSON.parse(text) as { id: string }).id);
    return;
  }
  if (opts.report) process.stderr.write(`${res.headers.get('x-tern-report') ?? ''}\n`);
  out(text);
  if (!res.ok) process.exitCode = 1;
}

export async function listWorkflows(opts: ClientOptions & { json?: boolean }): Promise<void> {
  const { workflows } = await new Client(opts).json<{ workflows: WorkflowDescription[] }>('GET', '/v1/workflows');
  if (opts.json) return out(JSON.stringify(workflows, null, 2));
  if (workflows.length === 0) return out('no workflows deployed');
  const rows = [
    ['NAME', 'STATES', 'FUNCTIONS', 'VERSION', 'UPDATED'],
    ...workflows.map((w) => [w.name, String(w.states), w.functions.join(','), w.version, w.updatedAt]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    out(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

export async function describeWorkflow(name: string, opts: ClientOptions): Promise<void> {
  out(JSON.stringify(await new Client(opts).json('GET', path(name)), null, 2));
}

export async function workflowRuns(name: string, opts: ClientOptions & { run?: string }): Promise<void> {
  const client = new Client(opts);
  out(
    JSON.stringify(
      await client.json('GET', opts.run ? `${path(name)}/runs/${encodeURIComponent(opts.run)}` : `${path(name)}/runs`),
      null,
      2,
    ),
  );
}

export async function removeWorkflow(name: string, opts: ClientOptions): Promise<void> {
  await new Client(opts).json('DELETE', path(name));
  out(`removed workflow ${name}`);
}

/** The `workflow` command group, added to the program by main.ts. */
export function workflowCommand(withClient: (c: Command) => Command): Command {
  const group = new Command('workflow').alias('wf').description('workflows: ASL state machines of functions');
  withClient(
    group
      .command('deploy <file>')
      .description('deploy an ASL document (JSON); the name defaults to the file name')
      .option('--name <name>', 'deploy under this name'),
  ).action((file, o) => deployWorkflow(file, o));
  withClient(
    group
      .command('invoke <name>')
      .description('run a workflow; prints its output (or the run id with --async)')
      .option('-d, --data <json>', 'the input as JSON (@file reads a file); default {}')
      .option('--async', 'asynchronous: print the run id (tern poll ID shows it)')
      .option('--report', 'print the run report summary on stderr'),
  ).action((name, o) => invokeWorkflow(name, o));
  withClient(group.command('ls').alias('list').description('list workflows').option('--json', 'JSON output')).action(
    (o) => listWorkflows(o),
  );
  withClient(group.command('describe <name>').description('describe a workflow, with its definition')).action(
    (name, o) => describeWorkflow(name, o),
  );
  withClient(
    group
      .command('runs <name>')
      .description("a workflow's recent runs")
      .addOption(new Option('--run <id>', "one run, with its states' reports")),
  ).action((name, o) => workflowRuns(name, o));
  withClient(group.command('rm <name>').description('remove a workflow')).action((name, o) => removeWorkflow(name, o));
  return group;
}
