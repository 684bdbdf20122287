import { Flags } from '@oclif/core';
import { updateAclConfig, type AclChangeResult } from '../admin/acl.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { aclTargetFlags, targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

export default class UpdateAclConfig extends BaseCommand<AclChangeResult> {
  static override summary = 'Create an account of the brokers\' plain_acl.yml, or change the fields given.';

  static override description = [
    'Sends UPDATE_AND_CREATE_ACL_CONFIG to one broker (-b) or every master of a cluster (-c); works against Apache brokers too. The account\'s keys (-a, -s) must be longer than 6 characters; permissions are DENY, PUB, SUB or PUB|SUB. Fields not given keep their value on an existing account.',
    'Flags are mqadmin\'s: here -s is the account\'s secret key (not a timestamp), -i the default topic permission (not a message id), -t and -g permission lists (not one topic or group). -a/-s are the account being written; to sign the request use --access-key/--secret-key of an admin account. The secret key is sent to the broker and never printed, also not with --json.',
  ].join('\n\n');

  static override examples = [
    { description: 'Create an application account on the local broker, with the secret from a variable.', command: '<%= config.bin %> updateAclConfig -b 127.0.0.1:10911 -a orders-app -s "$ORDERS_SECRET" -i DENY -t "Orders=PUB|SUB,Audit=SUB" -g orders-consumer=SUB' },
    { description: 'Make an account admin on every master of a cluster, signed as an admin.', command: '<%= config.bin %> updateAclConfig -n 10.0.0.1:9876 -c DefaultCluster -a ops-admin -s "$OPS_SECRET" -m true --credentials-file ~/.rocketctl/admin.keys' },
  ];

  static override flags = {
    ...aclTargetFlags,
    accessKey: Flags.string({ char: 'a', summary: 'Access key of the account to create or change.', required: true }),
    secretKey: Flags.string({ char: 's', summary: 'Its secret key (mqadmin\'s -s; input only, never printed).', required: true }),
    whiteRemoteAddress: Flags.string({ char: 'w', summary: 'Addresses of this account that skip signature and permission checks, e.g. 192.168.1.*.' }),
    defaultTopicPerm: Flags.string({ char: 'i', summary: 'Permission on topics not listed (mqadmin\'s -i).', options: ['DENY', 'PUB', 'SUB', 'PUB|SUB'] }),
    defaultGroupPerm: Flags.string({ char: 'u', summary: 'Permission on groups not listed.', options: ['DENY', 'PUB', 'SUB', 'PUB|SUB'] }),
    topicPerms: Flags.string({ char: 't', summary: 'Topic permissions, e.g. topicA=DENY,topicB=PUB|SUB (mqadmin\'s -t).' }),
    groupPerms: Flags.string({ char: 'g', summary: 'Group permissions, e.g. groupA=SUB (mqadmin\'s -g).' }),
    admin: Flags.string({ char: 'm', summary: 'Admin account: may create/delete topics and groups, change config and the ACL.', options: ['true', 'false'] }),
    ...targetFlags,
  };

  async run(): Promise<AclChangeResult> {
    const { flags } = await this.parse(UpdateAclConfig);
    const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((x) => x.trim()).filter((x) => x !== ''));
    const account = {
      accessKey: flags.accessKey,
      secretKey: flags.secretKey,
      whiteRemoteAddress: flags.whiteRemoteAddress,
      defaultTopicPerm: flags.defaultTopicPerm,
      defaultGroupPerm: flags.defaultGroupPerm,
      topicPerms: list(flags.topicPerms),
      groupPerms: list(flags.groupPerms),
      admin: flags.admin === undefined ? undefined : flags.admin === 'true',
    };
    const r = await withSpinner(`Updating ACL account ${flags.accessKey}`, this.jsonEnabled(), () =>
      withAdminSession({ ...targetOf(flags), brokerAddr: flags.brokerAddr }, (s) =>
        updateAclConfig(s, { brokerAddr: flags.brokerAddr, clusterName: flags.clusterName, local: !flags.namesrvAddr, account }),
      ),
    );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/acl-render.js')).renderAclChange(r, 'update'));
    return r;
  }
}
