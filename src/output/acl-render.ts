/** Human output of the ACL commands (the account's secret key is never part of a result). */
import type { AclChangeResult, AclVersionResult } from '../admin/acl.js';
import type { BrokerTarget } from '../admin/targets.js';
import { renderTable } from './table.js';

function label(b: BrokerTarget): string {
  return b.brokerName ? `${b.brokerName} (${b.addr})` : b.addr;
}

export function renderAclChange(r: AclChangeResult, verb: string): string {
  const what = r.accessKey !== null ? `ACL account ${r.accessKey}` : `globalWhiteRemoteAddresses [${(r.globalWhiteAddrs ?? []).join(',')}]`;
  return r.brokers.map((b) => `${verb} ${what} on broker ${label(b)}: success.`).join('\n');
}

export function renderAclVersion(r: AclVersionResult): string {
  return renderTable(
    ['#Cluster', '#Broker', '#Addr', '#Version', '#UpdatedAt'],
    r.brokers.map((b) => [b.clusterName ?? '-', b.brokerName ?? '-', b.addr, b.counter ?? '-', b.timestampMs === null ? '-' : new Date(b.timestampMs).toISOString()]),
  );
}
