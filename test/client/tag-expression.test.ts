import { describe, expect, it } from 'vitest';
import { buildSubscriptionData, InvalidSubscriptionError, matchesSubscription, parseTagExpression } from '../../src/client/tag-expression.js';

describe('TAG expressions (FilterAPI.buildSubscriptionData)', () => {
  it('"*" and empty subscribe everything', () => {
    for (const e of ['*', '', '  * ', undefined]) {
      const s = buildSubscriptionData('T', e, 1);
      expect(s).toMatchObject({ topic: 'T', subString: '*', tagsSet: [], codeSet: [], subVersion: 1, expressionType: 'TAG' });
      expect(matchesSubscription(s, undefined)).toBe(true);
      expect(matchesSubscription(s, 'Anything')).toBe(true);
    }
  });

  it('"TagA || TagB" gives tagsSet and Java hash codes', () => {
    const s = buildSubscriptionData('T', 'TagA || TagB', 7);
    expect(s.subString).toBe('TagA || TagB');
    expect(s.tagsSet).toEqual(['TagA', 'TagB']);
    expect(s.codeSet).toEqual([2598919, 2598920]); // "TagA".hashCode() = 2598919
    expect(matchesSubscription(s, 'TagA')).toBe(true);
    expect(matchesSubscription(s, 'TagC')).toBe(false);
    expect(matchesSubscription(s, undefined)).toBe(false);
  });

  it('trims, drops empty parts and duplicates', () => {
    expect(parseTagExpression('a||  ||b|| a ')).toEqual({ all: false, tags: ['a', 'b'] });
    expect(parseTagExpression('single')).toEqual({ all: false, tags: ['single'] });
  });

  it('refuses an expression with no tag', () => {
    expect(() => parseTagExpression('||')).toThrow(InvalidSubscriptionError);
    expect(() => parseTagExpression(' || || ')).toThrow(/no tag/);
  });
});
