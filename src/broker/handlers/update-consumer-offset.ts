/**
 * UPDATE_CONSUMER_OFFSET (15), usually oneway every 5 s from each consumer, as
 * ConsumerManageProcessor.updateConsumerOffset. Negative offsets (ali-ons sends -1 for "nothing
 * consumed yet") are not stored: they would erase a real offset.
 *
 * Oneway commits are persisted with the others every flushConsumerOffsetInterval, as in Java. One
 * sent as a request waits for an answer: an admin tool's offset write (mqadmin's offline reset,
 * rocketctl's resetOffset), so it is answered once on disk, and SYSTEM_ERROR (offset unchanged)
 * when it cannot be written. Java answers SUCCESS and persists later.
 */
import { isOneway } from '../../protocol/frame.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { Header, notSaved, ok } from './util.js';

export function updateConsumerOffset(ctx: BrokerContext): RequestHandler {
  return (req, channel) => {
    const h = new Header(req);
    const group = h.str('consumerGroup');
    const topic = h.str('topic');
    const queueId = h.int('queueId');
    const offset = h.int('commitOffset');
    if (isOneway(req)) {
      ctx.commitOffset(channel.remoteAddress, group, topic, queueId, offset);
      return ok(req);
    }
    return ctx.commitOffsetsDurably(group, topic, [[queueId, offset]]).then(
      () => ok(req),
      (err: unknown) => notSaved(req, `the offset of ${group} on ${topic} queue ${queueId}`, err),
    );
  };
}
