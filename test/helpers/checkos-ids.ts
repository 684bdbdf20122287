/**
 * Every checkOS item id, in report order: written out here (not imported from src/checks) so a
 * check added, dropped or renamed shows up as a test failure and a deliberate edit.
 */
export const CHECKOS_IDS = [
  'vm.overcommit_memory',
  'vm.drop_caches',
  'vm.min_free_kbytes',
  'vm.extra_free_kbytes',
  'vm.max_map_count',
  'vm.swappiness',
  'vm.dirty_background_ratio',
  'vm.dirty_ratio',
  'vm.dirty_writeback_centisecs',
  'vm.zone_reclaim_mode',
  'vm.page-cluster',
  'limits.nofile.self',
  'limits.nofile.broker',
  'io.scheduler',
  'mm.transparent_hugepage',
  'node.heap_limit',
  'node.max_old_space_size',
];
