#!/usr/bin/env node
/** The `tern` command line. */
import { Command, Option } from 'commander';
import { ApiError, tokenHelp } from './client.js';
import * as cmd from './commands.js';
import { importImage, listImages, removeImage } from './image.js';
import { availableTemplates, newFunction } from './new.js';
import { serve } from './serve.js';
import { workflowCommand } from './workflow.js';
import { VERSION } from '../version.js';

const program = new Command('tern')
  .description('Tern: edge Function-as-a-Service')
  .version(VERSION)
  .showHelpAfterError();

const withClient = (c: Command) =>
  c
    .addOption(new Option('--url <url>', 'node URL').env('TERN_URL'))
    .addOption(new Option('--token <token>', 'management token').env('TERN_TOKEN'));

program
  .command('serve')
  .description('run a node')
  .option('--config <file>', 'config file (TOML or YAML)')
  .option('--port <port>', 'HTTP port (default 8080)')
  .option('--coap-port <port>', 'CoAP UDP port (default 5683)')
  .option('--grpc-port <port>', 'gRPC port (default 9000, -1 to disable)')
  .option('--host <addr>', 'address to listen on (default 127.0.0.1)')
  .option('--data <dir>', 'data folder (default ./.tern)')
  .option('--registry <dir>', 'a folder of function folders to deploy at start')
  .option('--etcd <urls>', 'etcd endpoints, comma-separated (cluster mode)')
  .option('--token <token>', 'management token')
  .option('--node <name>', 'node name')
  .option('--log-level <level>', 'trace|debug|info|warn|error|fatal|silent (default info)')
  .option('--log-format <format>', 'auto|pretty|json (default auto: readable on a terminal, JSON lines otherwise)')
  .option('--memory-budget <mib>', 'memory budget for instances, MiB')
  .option('--loops <n>', 'event loops serving HTTP (default: one per core; 0: the control loop alone)')
  .option('--role <role>', 'cluster role: edge|cloud')
  .option('--area <area>', 'cluster area')
  .option('--mqtt <url>', 'MQTT broker of the MQTT triggers (mqtt://host:1883)')
  .option('--mqtt-username <name>', 'MQTT user name (the password: TERN_MQTT_PASSWORD)')
  .action((o) => serve(o));

withClient(
  program
    .command('deploy <dir>')
    .description('deploy a function folder')
    .option('--name <name>', 'deploy under this name'),
).action((dir, o) => cmd.deploy(dir, o));
withClient(
  program
    .command('invoke <name>')
    .description('call a function')
    .option('-d, --data <data>', 'request body (@file reads a file)')
    .option('-X, --method <method>', 'HTTP method (default GET, POST with --data)')
    .option('--path <path>', 'path after the function name')
    .option('-H, --header <header...>', 'request header "Name: value"')
    .option('--async', 'asynchronous: print the call id')
    .option('--report', 'print the execution report on stderr'),
).action((name, o) => cmd.invoke(name, o));
withClient(
  program
    .command('poll <id>')
    .description("show an async call: its state, and the function's body once done")
    .option('-w, --wait', 'wait until it finishes')
    .option('--json', 'the call record as JSON (the body base64)'),
).action((id, o) => cmd.poll(id, o));
withClient(program.command('ls').alias('list').description('list functions').option('--json', 'JSON output')).action(
  (o) => cmd.list(o),
);
withClient(
  program.command('describe <name>').description("a function's spec and status").option('--json', 'JSON output'),
).action((name, o) => cmd.describe(name, o));
withClient(program.command('rm <name>').description('remove a function')).action((name, o) => cmd.remove(name, o));
withClient(
  program
    .command('logs <name>')
    .description("show a function's logs")
    .option('-f, --follow', 'follow new lines')
    .option('--tail <n>', 'last n lines')
    .option('--since <time>', 'ISO time'),
).action((name, o) => cmd.logs(name, o));
withClient(program.command('status').description("the node's status")).action((o) => cmd.status(o));
const image = program.command('image').description('container images kept on the node (runtime = "container")');
withClient(
  image
    .command('import <file> [name]')
    .description('import an oci-archive or docker-archive (name: as the archive says)'),
).action((file, name, o) => importImage(file, name, o));
withClient(image.command('ls').description('list imported images').option('--json', 'JSON output')).action((o) =>
  listImages(o),
);
withClient(image.command('rm <name>').description('remove an imported image')).action((name, o) =>
  removeImage(name, o),
);
program.addCommand(workflowCommand(withClient));
program
  .command('new')
  .description('write a starter function')
  .argument('<runtime>', `the starter's runtime: ${availableTemplates().join(', ')}`)
  .argument('<dir>', 'the folder to write (new or empty); its name names the function')
  .action((runtime, dir) => newFunction(runtime, dir));

program.parseAsync(process.argv).catch((e: unknown) => {
  const message = e instanceof ApiError ? `${e.message}${e.status ? ` (HTTP ${e.status})` : ''}` : (e as Error).message;
  process.stderr.write(`tern: ${message}\n`);
  // 401: no token sent; 403: the one sent is not the node's.
  if (e instanceof ApiError && (e.status === 401 || /token is not valid/.test(e.message)))
    process.stderr.write(`tern: ${tokenHelp()}\n`);
  process.exit(1);
});
