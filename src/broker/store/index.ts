/**
 * The message store's public surface (what the broker and the CLI import). The facade is
 * MessageStore; the rest is configuration, the report types, typed errors and the FileIO
 * implementations (real, fault-injecting for tests, copy-on-write for dry runs).
 */
export {
  MessageStore,
  verifyStore,
  computeTagsCode,
  InvalidMessageError,
  PutFlushTimeoutError,
  StoreNotFoundError,
  ABORT_FILE,
  type PutMessageInput,
  type PutResult,
  type PutStatus,
  type GetMessageResult,
  type GetMessageStatus,
  type QueryMessageResult,
  type StoreStats,
  type StoreVerifyResult,
  type OpenOptions,
} from './message-store.js';
export {
  defaultStoreConfig,
  validateStoreConfig,
  parseDelayLevels,
  parseDeleteWhen,
  inferStoreGeometry,
  DEFAULT_STORE_DIR,
  DEFAULT_COMMITLOG_FILE_SIZE_BYTES,
  DEFAULT_CONSUMEQUEUE_FILE_SIZE_BYTES,
} from './store-config.js';
export { StoreBusyError, StoreIOError, segmentFileName, COMMITLOG_DIR } from './commitlog.js';
export {
  CleanService,
  DiskSpaceFullError,
  retentionSettingsOf,
  diskUsedRatio,
  DELETE_FILES_BATCH_MAX,
  DISK_SPACE_WARNING_LEVEL_RATIO,
  DISK_SPACE_CLEAN_FORCIBLY_RATIO,
  type CleanPassReport,
  type CleanServiceOptions,
  type DeletedSegment,
  type RetentionSettings,
} from './clean-service.js';
export type { StoreRecoveryReport, TruncateReason } from './recovery.js';
export { StoreLock } from './store-lock.js';
export { Checkpoint, CHECKPOINT_FILE_BYTES, type CheckpointTimes } from './checkpoint.js';
export type { FileIO, FileHandle, OpenMode, DiskSpace } from './file-io.js';
export { NodeFileIO } from './node-file-io.js';
export { FaultyFileIO, mulberry32, faultSeedFromEnv, type CrashReport, type FaultyFileIOOptions } from './faulty-file-io.js';
export { OverlayFileIO } from './overlay-file-io.js';
export {
  SCHEDULE_TOPIC,
  TRANS_HALF_TOPIC,
  TRANS_OP_HALF_TOPIC,
  DEFAULT_MESSAGE_DELAY_LEVEL,
  type StoreConfig,
  type FlushDiskType,
  type DispatchRequest,
  type CqUnit,
  type RecoveryReport,
} from './types.js';
