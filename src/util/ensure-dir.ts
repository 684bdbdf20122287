import fs from 'node:fs';
import path from 'node:path';

/**
 * mkdir -p that always ends: one level at a time, down from the deepest existing ancestor. Node
 * 20's recursive mkdir never returns for a path under /proc (mkdir there fails with ENOENT although
 * the parent exists, and it retries forever); here that is the ENOENT, with the level as its path.
 * A path (or an ancestor) that exists but is not a directory fails with ENOTDIR.
 */
export function ensureDir(dir: string): void {
  const missing: string[] = [];
  let p = path.resolve(dir);
  // Bounded by the path's depth: each round goes one level up, and the root exists.
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (st) {
      if (!st.isDirectory()) throw errnoError('ENOTDIR', 'not a directory', p);
      break;
    }
    missing.push(p);
    const parent = path.dirname(p);
    if (parent === p) break;
    p = parent;
  }
  for (const m of missing.reverse()) {
    try {
      fs.mkdirSync(m);
    } catch (err) {
      // A concurrent creator is fine; anything else (EACCES, EROFS, /proc's ENOENT) is the answer.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(m).isDirectory()) continue;
      throw err;
    }
  }
}

function errnoError(code: string, what: string, p: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${what}, '${p}'`), { code, path: p });
}
