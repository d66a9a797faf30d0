/**
 * The keeper executables the tests run: the production one (where the
 * orchestrator finds it) and its test build, ray-head-ha-keeper-test, beside
 * it (native/CMakeLists.txt, binding.gyp: RHHA_KEEPER_TEST_HOOKS), the only
 * one that honours the RAY_HEAD_HA_KEEPER_TEST_DELAY_* variables.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { keeperExecutablePath } from '../../src/native/binding.js';

export const keeperPath = keeperExecutablePath();

export const testKeeperPath = ((): string => {
  const file = path.join(path.dirname(keeperPath), 'ray-head-ha-keeper-test');
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new Error(`the keeper's test build is missing: ${file} (run \`npm run build:native\` or scripts/build-gyp.sh)`);
  }
  return file;
})();
