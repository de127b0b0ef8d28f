import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * What the tests build once and keep (the tiny guest): ~/.cache/labvirt-tests, outside the
 * repository, so it survives between runs on one machine and needs no .gitignore. Test servers
 * use it as their LABVIRT_CACHE_DIR, so the demo's guest is the tests' one.
 */
export const cacheRoot = () => join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'labvirt-tests')
