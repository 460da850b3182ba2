/**
 * A node reaching an etcd that does not let everyone in: etcd's own user/password authentication
 * (a user whose role may read and write `tern/` only), and TLS with client certificates from a
 * throwaway CA made by openssl for the test. A node with the right `[cluster] etcd-*` settings
 * registers and publishes; one without them is refused by etcd and says so.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Etcd3, Range } from 'etcd3';
import { createEtcdClient, loadEtcdAccess } from '../../src/cluster/etcd.js';
import { functionKey, nodeKey } from '../../src/cluster/records.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import type { TernProcess } from '../helpers/node.js';
import {
  deployFixture,
  logEntries,
  removeScratch,
  startEtcd,
  startNode,
  until,
  waitForLog,
  type EtcdServer,
  type NodeSpec,
} from './harness.js';

const ROOT_PASSWORD = 'root-password-0123';
const TERN_PASSWORD = 'tern-password-0123';

/** Wait until etcd holds `key` (read with a client that may). */
const present = (client: Etcd3, key: string) =>
  until(async () => ((await client.get(key).string()) !== null ? true : undefined), `${key} in etcd`);

const refusedByEtcd = (node: TernProcess, why: RegExp) =>
  waitForLog(node, (e) => e.event === 'etcd_unreachable' && why.test(String(e.err)), `etcd refusing ${why}`);

describe('a cluster on an etcd with user/password authentication', { timeout: 180_000 }, () => {
  let etcd: EtcdServer;
  let root: Etcd3;
  const nodes: TernProcess[] = [];

  before(async () => {
    etcd = await startEtcd();
    const setup = new Etcd3({ hosts: etcd.url });
    await setup.role('root').create();
    await setup.user('root').create(ROOT_PASSWORD);
    await setup.user('root').addRole('root');
    await setup.role('tern').create();
    await setup.role('tern').grant({ permission: 'Readwrite', range: Range.prefix('tern/') });
    await setup.user('tern').create(TERN_PASSWORD);
    await setup.user('tern').addRole('tern');
    await setup.auth.authEnable();
    setup.close();
    root = createEtcdClient([etcd.url], { user: 'root', password: ROOT_PASSWORD });
  });

  after(async () => {
    await Promise.allSettled(nodes.map((n) => n.stop({ cleanup: true })));
    await Promise.allSettled(nodes.map((n) => removeScratch(n)));
    root?.close();
    await etcd?.stop();
  });

  test('with [cluster] etcd-user and etcd-password a node registers and publishes its deploys', async () => {
    const spec: NodeSpec = { name: 'auth-ok', role: 'edge', area: 'a' };
    const node = await startNode(etcd, spec, { TERN_ETCD_USER: 'tern', TERN_ETCD_PASSWORD: TERN_PASSWORD });
    nodes.push(node);
    await present(root, nodeKey(spec.name));
    await deployFixture(node, 'echo');
    await present(root, functionKey('echo'));
    await waitForLog(node, (e) => e.event === 'etcd_password_plaintext', 'the plain-http password warning');
  });

  test('without them etcd refuses the node, and the node says why', async () => {
    const spec: NodeSpec = { name: 'auth-none', role: 'edge', area: 'a' };
    const node = await startNode(etcd, spec);
    nodes.push(node);
    await refusedByEtcd(node, /user name is empty|permission denied|auth/i);
    assert.equal(await root.get(nodeKey(spec.name)).string(), null);
    // etcd cancels each watch it refuses: the node watches again backing off, and says so once.
    await waitForLog(node, (e) => e.event === 'registry_watch_error', 'the refused watch');
    const said = logEntries(node).filter((e) => e.event === 'registry_watch_error' && e.level === 'warn');
    assert.equal(said.length, 1, 'one warning, not one per retry');
    // A refused watch cannot be cancelled cleanly: stopping must not wait on it (0, not killed).
    assert.equal(await node.stop(), 0);
  });
});

/** A CA, a certificate for etcd on 127.0.0.1, and a client certificate, all for one test. */
function makeCertificates(
  dir: string,
): Record<'ca' | 'caKey' | 'server' | 'serverKey' | 'client' | 'clientKey', string> {
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-days',
    '1',
    '-subj',
    '/CN=tern-test-ca',
  );
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    openssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=tern-${name}`);
    writeFileSync(f(`${name}.ext`), ext);
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${name}.crt`),
      '-days',
      '1',
      '-extfile',
      f(`${name}.ext`),
    );
  }
  return {
    ca: f('ca.crt'),
    caKey: f('ca.key'),
    server: f('server.crt'),
    serverKey: f('server.key'),
    client: f('client.crt'),
    clientKey: f('client.key'),
  };
}

describe('a cluster on an etcd that wants TLS client certificates', { timeout: 180_000 }, () => {
  let dir: string;
  let certs: ReturnType<typeof makeCertificates>;
  let etcd: EtcdServer;
  let admin: Etcd3;
  const nodes: TernProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tern-etcd-tls-'));
    certs = makeCertificates(dir);
    etcd = await startEtcd(30_000, { tls: { cert: certs.server, key: certs.serverKey, ca: certs.ca } });
    admin = createEtcdClient(
      [etcd.url],
      loadEtcdAccess({ caFile: certs.ca, certFile: certs.client, keyFile: certs.clientKey }),
    );
  });

  after(async () => {
    await Promise.allSettled(nodes.map((n) => n.stop({ cleanup: true })));
    await Promise.allSettled(nodes.map((n) => removeScratch(n)));
    admin?.close();
    await etcd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('with [cluster] etcd-ca, etcd-cert and etcd-key a node registers over TLS', async () => {
    const spec: NodeSpec = { name: 'tls-ok', role: 'edge', area: 'a' };
    const env = { TERN_ETCD_CA: certs.ca, TERN_ETCD_CERT: certs.client, TERN_ETCD_KEY: certs.clientKey };
    const node = await startNode(etcd, spec, env);
    nodes.push(node);
    await present(admin, nodeKey(spec.name));
  });

  test('with the CA but no client certificate etcd refuses the node', async () => {
    const spec: NodeSpec = { name: 'tls-no-cert', role: 'edge', area: 'a' };
    const node = await startNode(etcd, spec, { TERN_ETCD_CA: certs.ca });
    nodes.push(node);
    await waitForLog(node, (e) => e.event === 'etcd_unreachable', 'etcd refusing the handshake');
    assert.equal(await admin.get(nodeKey(spec.name)).string(), null);
  });

  test('settings that cannot work are refused when the config loads, naming the key', () => {
    const load = (env: Record<string, string>) => () => loadConfig({}, { TERN_ETCD: etcd.url, ...env }, dir);
    assert.throws(
      load({ TERN_ETCD_CERT: certs.client }),
      (e: Error) => e instanceof ConfigError && /etcd-key/.test(e.message),
    );
    assert.throws(load({ TERN_ETCD_USER: 'tern' }), (e: Error) => /etcd-password/.test(e.message));
    assert.throws(
      () => loadConfig({}, { TERN_ETCD: 'http://127.0.0.1:2379', TERN_ETCD_CA: certs.ca }, dir),
      (e: Error) => /must be https/.test(e.message),
    );
    assert.throws(() => loadEtcdAccess({ caFile: join(dir, 'missing.crt') }), /etcd-ca .*missing\.crt/);
  });
});
