import { Flags } from '@oclif/core';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { withAdminSession } from '../admin/session.js';
import { MessageNotFoundError, queryByUniqKey, trackLookup, writeBodies } from '../admin/messages.js';
import { renderMessage, renderTracks } from '../output/progress-render.js';
import { failedBrokerWarnings, lookupResult, type MsgLookupResult } from './queryMsgById.js';

export default class QueryMsgByUniqueKey extends BaseCommand<MsgLookupResult> {
  static override summary = 'Find a message by its UNIQ_KEY (the msgId producers return) in a topic.';

  static override description = [
    'Looks the UNIQ_KEY up in the message index of every broker of the topic (QUERY_MESSAGE with _UNIQUE_KEY_QUERY=true) and keeps only messages whose UNIQ_KEY is exactly the id (index hash collisions are dropped). A retried message has copies in %RETRY%<group> with the same UNIQ_KEY: search that topic to see them. Prints mqadmin\'s fields and, per consumer group, whether it has consumed the message.',
    'A broker that fails or does not answer is listed (a warning, and `failed` in --json) and what the others hold is still printed, with consumer tracking that broker would have decided marked unknown; the command then exits 3. Brokers are asked in parallel, so a hung broker costs about one --timeout.',
    'Not found is not success: exit 1 with code E_MESSAGE_NOT_FOUND and the reason. Exit codes: 0 found; 1 not found, unreachable broker/name server, or unknown topic; 2 bad flags; 3 found, but some brokers failed (searching or tracking); 10 bug.',
  ].join('\n\n');

  static override examples = [
    { description: 'Find a message by the msgId its producer got back.', command: '<%= config.bin %> queryMsgByUniqueKey -i 7F000001A5F418B4AAC2649CD1E80000 -t orders' },
    { description: 'Save its body.', command: '<%= config.bin %> queryMsgByUniqueKey -i 7F000001A5F418B4AAC2649CD1E80000 -t orders -f body.bin' },
  ];

  static override flags = {
    msgId: Flags.string({ char: 'i', summary: 'The UNIQ_KEY.', required: true }),
    topic: Flags.string({ char: 't', summary: 'Topic of the message.', required: true }),
    'body-file': Flags.string({ char: 'f', summary: 'Write the body to this file (a directory when several copies are found).' }),
    track: Flags.boolean({ summary: 'Show whether each consumer group has consumed the message.', default: true, allowNo: true }),
    ...targetFlags,
  };

  async run(): Promise<MsgLookupResult> {
    const { flags } = await this.parse(QueryMsgByUniqueKey);
    const target = targetOf(flags);
    const l = await withAdminSession(target, async (s) => {
      const r = await queryByUniqKey(s, flags.msgId.trim(), { topic: flags.topic });
      if (flags.track) await trackLookup(s, r);
      return r;
    });
    if (l.found.length === 0) {
      const incomplete = l.failures.length > 0 ? ` (not searched: ${l.failures.join('; ')})` : '';
      throw new MessageNotFoundError(`${l.reason}${incomplete}`, { lookup: lookupResult(l) }, [
        'an offsetMsgId (broker address + offset) is looked up with: rocketctl queryMsgById -i ID',
        'messages older than the broker\'s retention (fileReservedTime, 72 h by default) are gone',
      ]);
    }
    if (flags['body-file']) await writeBodies(l.found, flags['body-file']);
    for (const w of failedBrokerWarnings([l])) this.setStatus(ExitCode.PARTIAL, w);
    this.render(l.found.map((f) => `${renderMessage(f.view)}\n\n${renderTracks(f.view.tracks, f.view.tracksFailed)}`).join('\n\n'));
    return lookupResult(l);
  }
}
