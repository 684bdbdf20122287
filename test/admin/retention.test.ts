/**
 * The retention warning's arithmetic and wording (src/admin/retention.ts), on hand-made queues:
 * the example of issue 17 ("oldest unconsumed is 70 h old, retention 72 h: deleted in ~2 h"), past
 * the retention, an unreadable broker config (72 h assumed, said so), the test knob, and the
 * one-day window.
 */
import { describe, expect, it } from 'vitest';
import { retentionOfConfig, retentionWarning, roughDuration } from '../../src/admin/retention.js';

const H = 3_600_000;
const q = (lagMs: number | null, extra: Partial<{ topic: string; brokerName: string; queueId: number; diff: number }> = {}) => ({ topic: 'T', brokerName: 'b', queueId: 0, diff: 5, lagMs, ...extra });

describe('retention warning', () => {
  const r72 = retentionOfConfig({ fileReservedTime: '72', deleteWhen: '04' });

  it('warns within a day of the retention, with the queue retention deletes first', () => {
    const w = retentionWarning([q(10 * H), q(70 * H, { queueId: 3 }), q(60 * H, { queueId: 1 })], () => r72);
    expect(w).toMatchObject({ queueId: 3, ageMs: 70 * H, retentionMs: 72 * H, deletedInMs: 2 * H, retentionKnown: true });
    expect(w!.message).toBe('oldest unconsumed is 70 h old, retention 72 h: deleted in ~2 h');
  });

  it('says nothing more than a day away, for caught-up queues, or for unmeasured ones', () => {
    expect(retentionWarning([q(47.9 * H)], () => r72)).toBeNull();
    expect(retentionWarning([q(71 * H, { diff: 0 }), q(null), q(0)], () => r72)).toBeNull();
    expect(retentionWarning([q(48.5 * H)], () => r72)!.message).toBe('oldest unconsumed is 49 h old, retention 72 h: deleted in ~24 h');
  });

  it('past the retention: deleted at the next clean-up (deleteWhen)', () => {
    expect(retentionWarning([q(75 * H)], () => r72)!.message).toBe("oldest unconsumed is 75 h old, retention 72 h: past the retention, deleted at the broker's next clean-up (deleteWhen 04)");
  });

  it('reads fileReservedTime, the test knob, and assumes 72 h (saying so) when the config is unreadable', () => {
    expect(retentionOfConfig({ fileReservedTime: '1' })).toEqual({ retentionMs: H, known: true, deleteWhen: null });
    expect(retentionOfConfig({ fileReservedTime: '72', testOnlyFileReservedTimeMs: '1500' }).retentionMs).toBe(1500);
    const unknown = retentionOfConfig(undefined);
    expect(unknown).toEqual({ retentionMs: 72 * H, known: false, deleteWhen: null });
    expect(retentionWarning([q(71 * H)], () => unknown)!.message).toBe("oldest unconsumed is 71 h old, retention 72 h (assumed: the broker's fileReservedTime could not be read): deleted in ~1 h");
  });

  it('rounds durations for a sentence', () => {
    expect([roughDuration(70.4 * H), roughDuration(1.5 * H), roughDuration(45 * 60_000), roughDuration(12_400)]).toEqual(['70 h', '1.5 h', '45 min', '12 s']);
  });
});
