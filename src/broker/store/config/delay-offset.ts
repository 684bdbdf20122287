/**
 * `config/delayOffset.json`: per delay level, the next SCHEDULE_TOPIC_XXXX queue offset to deliver
 * (apache/rocketmq ScheduleMessageService, DelayOffsetSerializeWrapper).
 * `{"offsetTable":{1:12,2:0}}` with bare Integer keys; level n is queue n-1.
 */
import { FjMap, toFastjson } from '../../../protocol/fastjson.js';
import type { FileIO } from '../file-io.js';
import { ConfigFileManager, decodeIntKeyedLongs, objectField, parseConfigObject, prettyIntKeyedMap } from './config-file.js';

export class DelayOffsetManager extends ConfigFileManager {
  private table = new Map<number, number>();

  constructor(storePathRootDir: string, io: FileIO) {
    super(io, storePathRootDir, 'delayOffset.json');
  }

  protected decode(text: string): void {
    const o = parseConfigObject(text);
    this.table = decodeIntKeyedLongs(objectField(o, 'offsetTable', ''), 'offsetTable');
  }

  /** `{\n\t"offsetTable":{1:12,2:0,3:7\n\t}\n}`, as fastjson pretty-prints it. */
  encode(): string {
    return `{\n\t"offsetTable":${prettyIntKeyedMap(this.table, 1)}\n}`;
  }

  /**
   * GET_ALL_DELAY_OFFSET's body, compact (ScheduleMessageService#encode() is encode(false)):
   * `{"offsetTable":{1:12,2:0}}`. An Apache slave writes it as its delayOffset.json
   * (SlaveSynchronize#syncDelayOffset).
   */
  encodeBody(): string {
    return toFastjson({ offsetTable: new FjMap(this.all()) });
  }

  get(level: number): number | undefined {
    return this.table.get(level);
  }

  set(level: number, offset: number): void {
    if (!Number.isSafeInteger(level) || level < 1) throw new Error(`delay level must be an integer >= 1 (got ${level})`);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new Error(`offset must be an integer >= 0 (got ${offset})`);
    if (this.table.get(level) === offset) return;
    this.table.set(level, offset);
    this.markChanged();
  }

  /** [level, offset] pairs by level (GET_ALL_DELAY_OFFSET). */
  all(): Array<[number, number]> {
    return [...this.table.entries()].sort((a, b) => a[0] - b[0]);
  }
}
