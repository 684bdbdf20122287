/**
 * rocketctl's ACL commands (mqadmin's updateAclConfig, deleteAclConfig, updateGlobalWhiteAddr,
 * clusterAclConfigVersion), the real CLI against a real broker with aclEnable=true: changes land in
 * plain_acl.yml and are in force at once, the version moves on, non-admins are refused, and no
 * secret (the signer's or the account's being written) is ever printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, APP, plainAclYaml, signedEnv, startAclBroker, type AclBroker, type TestAccount } from '../helpers/acl.js';
import type { TestBroker } from '../helpers/broker.js';
import { expectErrorEnvelope, expectSuccessEnvelope, runCli } from '../helpers/cli.js';

const NEW_SECRET = 'brand-new-secret-9';
const YAML = plainAclYaml(['defaultTopicPerm: SUB']);

let acl: AclBroker;
let tb: TestBroker;
let aclFile: string;
beforeAll(async () => {
  acl = await startAclBroker(YAML, 'rocketctl-acl-admin-');
  ({ tb, aclFile } = acl);
});
afterAll(async () => {
  await acl?.cleanup();
});

const as = signedEnv;
const cli = (args: string[], who: TestAccount = ADMIN) => runCli([...args, '-n', tb.namesrv!], { env: as(who) });
function expectNoSecrets(r: { stdout: string; stderr: string }): void {
  for (const s of [ADMIN.secretKey, APP.secretKey, NEW_SECRET]) expect(r.stdout + r.stderr).not.toContain(s);
}
const version = async () => (await cli(['clusterAclConfigVersion', '-b', tb.addr, '--json'])).json.result.brokers[0].counter as number;

describe('ACL commands', () => {
  it('updateAclConfig creates an account that works at once; its secret is never printed', async () => {
    const before = await version();
    const r = await cli(['updateAclConfig', '-b', tb.addr, '-a', 'ordersApp', '-s', NEW_SECRET, '-i', 'DENY', '-t', 'Orders=PUB|SUB', '-g', 'orders-cg=SUB', '--json']);
    expect(r.code).toBe(0);
    expectSuccessEnvelope('updateAclConfig', r.json);
    expect(r.json.result).toMatchObject({ accessKey: 'ordersApp', globalWhiteAddrs: null, failed: [] });
    expect(r.json.result.brokers.map((b: { addr: string }) => b.addr)).toEqual([tb.addr]);
    expectNoSecrets(r);
    expect(fs.readFileSync(aclFile, 'utf8')).toContain('ordersApp');
    expect(await version()).toBeGreaterThan(before);

    await cli(['updateTopic', '-b', tb.addr, '-t', 'Orders', '--json']);
    const sent = await runCli(['sendMessage', '-n', tb.namesrv!, '-t', 'Orders', '-p', 'hi', '--json'], { env: as({ accessKey: 'ordersApp', secretKey: NEW_SECRET }) });
    expect(sent.code).toBe(0);
    expectNoSecrets(sent);

    const human = await cli(['updateAclConfig', '-c', tb.broker.config.brokerClusterName, '-a', 'ordersApp', '-s', NEW_SECRET, '-m', 'false']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('update ACL account ordersApp on broker');
    expectNoSecrets(human);
  });

  it('a non-admin account is refused (E_ACL_DENIED) and the file stays as it was', async () => {
    const text = fs.readFileSync(aclFile, 'utf8');
    const r = await cli(['updateAclConfig', '-b', tb.addr, '-a', 'sneaky01', '-s', NEW_SECRET, '-m', 'true', '--json'], APP);
    expect(r.code).toBe(1);
    expectErrorEnvelope(r.json, 1);
    expect(r.json.code).toBe('E_ACL_DENIED');
    expectNoSecrets(r);
    expect(fs.readFileSync(aclFile, 'utf8')).toBe(text);
  });

  it('updateGlobalWhiteAddr replaces the list; a foreign -p file is refused', async () => {
    const r = await cli(['updateGlobalWhiteAddr', '-b', tb.addr, '-g', '10.10.103.*,192.168.0.*', '--json']);
    expect(r.code).toBe(0);
    expectSuccessEnvelope('updateGlobalWhiteAddr', r.json);
    expect(r.json.result.globalWhiteAddrs).toEqual(['10.10.103.*', '192.168.0.*']);
    expect(fs.readFileSync(aclFile, 'utf8')).toMatch(/globalWhiteRemoteAddresses:[\s\S]*10\.10\.103\.\*[\s\S]*192\.168\.0\.\*/);
    const other = await cli(['updateGlobalWhiteAddr', '-b', tb.addr, '-g', '10.0.0.*', '-p', path.join(acl.dir, 'other.yml'), '--json']);
    expect(other.code).toBe(1);
    expect(other.json.message).toContain("is not this broker's ACL file");
  });

  it('deleteAclConfig removes the account (its keys stop working); an unknown one fails with the reason', async () => {
    const r = await cli(['deleteAclConfig', '-b', tb.addr, '-a', 'ordersApp', '--json']);
    expect(r.code).toBe(0);
    expectSuccessEnvelope('deleteAclConfig', r.json);
    expect(fs.readFileSync(aclFile, 'utf8')).not.toContain('ordersApp');
    const sent = await runCli(['sendMessage', '-n', tb.namesrv!, '-t', 'Orders', '-p', 'hi', '--json'], { env: as({ accessKey: 'ordersApp', secretKey: NEW_SECRET }) });
    expect(sent.json.message).toContain('No acl config for ordersApp');

    const again = await cli(['deleteAclConfig', '-b', tb.addr, '-a', 'ordersApp', '--json']);
    expect(again.code).toBe(1);
    expectErrorEnvelope(again.json, 1);
    expect(again.json.message).toContain('deleted failed');
  });

  it('clusterAclConfigVersion: the file version per broker (human table and --json)', async () => {
    const r = await cli(['clusterAclConfigVersion', '-b', tb.addr, '--json']);
    expectSuccessEnvelope('clusterAclConfigVersion', r.json);
    expect(r.json.result.brokers[0]).toMatchObject({ addr: tb.addr });
    expect(r.json.result.brokers[0].counter).toBeGreaterThan(0);
    const human = await cli(['clusterAclConfigVersion', '-b', tb.addr]);
    expect(human.stdout).toContain('#Version');
  });
});
