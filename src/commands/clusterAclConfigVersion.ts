import { clusterAclConfigVersion, type AclVersionResult } from '../admin/acl.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { aclTargetFlags, targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

export default class ClusterAclConfigVersion extends BaseCommand<AclVersionResult> {
  static override summary = 'Show the version of each broker\'s ACL file (to see that a change reached every broker).';

  static override description =
    'Sends GET_BROKER_CLUSTER_ACL_INFO to one broker (-b) or every master of a cluster (-c); works against Apache brokers too. The version\'s counter moves on with every change of plain_acl.yml. A broker without ACL on fails (exit 1 when all do, 3 when some do).';

  static override examples = [
    { description: 'The local broker\'s ACL version.', command: '<%= config.bin %> clusterAclConfigVersion -b 127.0.0.1:10911' },
    { description: 'Every master of a cluster, as JSON.', command: '<%= config.bin %> clusterAclConfigVersion -n 10.0.0.1:9876 -c DefaultCluster --json' },
  ];

  static override flags = { ...aclTargetFlags, ...targetFlags };

  async run(): Promise<AclVersionResult> {
    const { flags } = await this.parse(ClusterAclConfigVersion);
    const r = await withSpinner('Asking for ACL versions', this.jsonEnabled(), () =>
      withAdminSession({ ...targetOf(flags), brokerAddr: flags.brokerAddr }, (s) =>
        clusterAclConfigVersion(s, { brokerAddr: flags.brokerAddr, clusterName: flags.clusterName, local: !flags.namesrvAddr }),
      ),
    );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/acl-render.js')).renderAclVersion(r));
    return r;
  }
}
