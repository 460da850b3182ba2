/** `tern serve`: run a node in this process until SIGINT/SIGTERM. */
import { ConfigError, loadConfig, type ConfigOverrides } from '../config.js';

export async function serve(flags: ConfigOverrides): Promise<void> {
  let config;
  try {
    config = loadConfig(flags);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`tern: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  // Loaded only here so that client commands start without the whole node.
  const { startNode } = await import('../node/index.js');
  const node = await startNode(config);
  process.stderr.write(
    `tern: serving on ${node.url}  (dashboard ${node.url}/ui/)\n` +
      (node.tokenPath
        ? `tern: management token in ${node.tokenPath}\n`
        : 'tern: management token from config/TERN_TOKEN\n'),
  );
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      process.stderr.write(`tern: ${signal} again, exiting now\n`);
      process.exit(130);
    }
    node.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        node.logger.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  void node.failed.then(async (why) => {
    process.stderr.write(`tern: ${why}; stopping (exit code ${EXIT_FAILED})\n`);
    await node.stop().catch((e: unknown) => node.logger.error({ err: e }, 'shutdown failed'));
    process.exit(EXIT_FAILED);
  });
}

/** The node stopped itself because it could not go on (EX_SOFTWARE): a supervisor should restart it. */
const EXIT_FAILED = 70;
