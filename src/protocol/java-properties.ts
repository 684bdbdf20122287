/**
 * java.util.Properties text, as RocketMQ puts it in request and response bodies
 * (apache/rocketmq MixAll#string2Properties / MixAll#properties2String: GET_BROKER_CONFIG,
 * UPDATE_BROKER_CONFIG) and in its files (broker.conf, a client's credentials file). Shared by the
 * broker, the client and the admin API, so it lives below all three.
 */

/**
 * Parse java.util.Properties text: `#`/`!` comments, `key=value`, `key: value` or `key value`,
 * backslash line continuation, `\t \n \r \f \\ \uXXXX` escapes. Values are trimmed (Java keeps
 * trailing blanks, and then Integer.parseInt fails on them; trimming is the friendlier reading).
 * A key given twice: the last wins, as in Java.
 */
export function parseProperties(text: string): Array<{ key: string; value: string; line: number; endLine: number }> {
  const out: Array<{ key: string; value: string; line: number; endLine: number }> = [];
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const startLine = i + 1;
    let logical = lines[i]!.replace(/^[ \t\f]+/, '');
    if (logical === '' || logical.startsWith('#') || logical.startsWith('!')) continue;
    // Continuation: an odd number of trailing backslashes joins the next line (leading blanks dropped).
    while (endsWithOddBackslashes(logical) && i + 1 < lines.length) {
      logical = logical.slice(0, -1) + lines[++i]!.replace(/^[ \t\f]+/, '');
    }
    if (endsWithOddBackslashes(logical)) logical = logical.slice(0, -1);
    let k = 0;
    let key = '';
    while (k < logical.length) {
      const c = logical[k]!;
      if (c === '\\' && k + 1 < logical.length) {
        key += logical.slice(k, k + 2);
        k += 2;
        continue;
      }
      if (c === '=' || c === ':' || c === ' ' || c === '\t' || c === '\f') break;
      key += c;
      k++;
    }
    let rest = logical.slice(k).replace(/^[ \t\f]+/, '');
    if (rest.startsWith('=') || rest.startsWith(':')) rest = rest.slice(1);
    out.push({ key: unescape(key), value: unescape(rest).trim(), line: startLine, endLine: i + 1 });
  }
  return out;
}

function endsWithOddBackslashes(s: string): boolean {
  let n = 0;
  for (let i = s.length - 1; i >= 0 && s[i] === '\\'; i--) n++;
  return n % 2 === 1;
}

function unescape(s: string): string {
  return s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, e: string) => {
    if (e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16));
    return e === 't' ? '\t' : e === 'n' ? '\n' : e === 'r' ? '\r' : e === 'f' ? '\f' : e;
  });
}
