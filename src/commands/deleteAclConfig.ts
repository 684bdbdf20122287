import { Flags } from '@oclif/core';
import { deleteAclConfig, type AclChangeResult } from '../admin/acl.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { aclTargetFlags, targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

export default class DeleteAclConfig extends BaseCommand<AclChangeResult> {
  static override summary = 'Delete an account from the brokers\' plain_acl.yml.';

  static override description =
    'Sends DELETE_ACL_CONFIG to one broker (-b) or every master of a cluster (-c); works against Apache brokers too. An account the broker does not have is that broker\'s failure (DELETE_ACL_CONFIG_FAILED): exit 1 when every broker failed, 3 when some did.';

  static override examples = [
    { description: 'Delete account orders-app from the local broker.', command: '<%= config.bin %> deleteAclConfig -b 127.0.0.1:10911 -a orders-app' },
    { description: 'From every master of a cluster, signed as an admin.', command: '<%= config.bin %> deleteAclConfig -n 10.0.0.1:9876 -c DefaultCluster -a orders-app --credentials-file ~/.rocketctl/admin.keys' },
  ];

  static override flags = {
    ...aclTargetFlags,
    accessKey: Flags.string({ char: 'a', summary: 'Access key of the account to delete.', required: true }),
    ...targetFlags,
  };

  async run(): Promise<AclChangeResult> {
    const { flags } = await this.parse(DeleteAclConfig);
    const r = await withSpinner(`Deleting ACL account ${flags.accessKey}`, this.jsonEnabled(), () =>
      withAdminSession({ ...targetOf(flags), brokerAddr: flags.brokerAddr }, (s) =>
        deleteAclConfig(s, { brokerAddr: flags.brokerAddr, clusterName: flags.clusterName, local: !flags.namesrvAddr, accessKey: flags.accessKey }),
      ),
    );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/acl-render.js')).renderAclChange(r, 'delete'));
    return r;
  }
}
