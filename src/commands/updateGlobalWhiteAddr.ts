import { Flags } from '@oclif/core';
import { updateGlobalWhiteAddr, type AclChangeResult } from '../admin/acl.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { aclTargetFlags, targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

export default class UpdateGlobalWhiteAddr extends BaseCommand<AclChangeResult> {
  static override summary = 'Replace the brokers\' globalWhiteRemoteAddresses (addresses that need no keys).';

  static override description =
    'Sends UPDATE_GLOBAL_WHITE_ADDRS_CONFIG to one broker (-b) or every master of a cluster (-c); works against Apache brokers too. The list replaces the one in plain_acl.yml. Here -g is mqadmin\'s address list, not a group; -p names the ACL file (Apache reads several; the embedded broker has one and refuses any other).';

  static override examples = [
    { description: 'Let two subnets in without keys, on the local broker.', command: '<%= config.bin %> updateGlobalWhiteAddr -b 127.0.0.1:10911 -g "10.10.103.*,192.168.0.*"' },
    { description: 'On a cluster, for one of Apache\'s ACL files.', command: '<%= config.bin %> updateGlobalWhiteAddr -n 10.0.0.1:9876 -c DefaultCluster -g 10.10.103.* -p /opt/rocketmq/conf/plain_acl.yml' },
  ];

  static override flags = {
    ...aclTargetFlags,
    globalWhiteRemoteAddresses: Flags.string({ char: 'g', summary: 'Comma-separated address patterns, e.g. 10.10.103.*,192.168.0.* (mqadmin\'s -g).', required: true }),
    aclFileFullPath: Flags.string({ char: 'p', summary: 'The ACL file to change (default: the broker\'s).' }),
    ...targetFlags,
  };

  async run(): Promise<AclChangeResult> {
    const { flags } = await this.parse(UpdateGlobalWhiteAddr);
    const addrs = flags.globalWhiteRemoteAddresses.split(',').map((a) => a.trim()).filter((a) => a !== '');
    const r = await withSpinner('Updating globalWhiteRemoteAddresses', this.jsonEnabled(), () =>
      withAdminSession({ ...targetOf(flags), brokerAddr: flags.brokerAddr }, (s) =>
        updateGlobalWhiteAddr(s, { brokerAddr: flags.brokerAddr, clusterName: flags.clusterName, local: !flags.namesrvAddr, addrs, aclFileFullPath: flags.aclFileFullPath }),
      ),
    );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/acl-render.js')).renderAclChange(r, 'update'));
    return r;
  }
}
