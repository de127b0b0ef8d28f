import type { Stats } from 'node:fs'
import { access, constants, realpath, stat } from 'node:fs/promises'
import { basename, join, sep } from 'node:path'

/** Why a name in the images directory cannot be used: none there, or not a regular file of it. */
export type ImageFileProblem = 'missing' | 'unsafe'

/**
 * The real path of `file` in the images directory `dir`, or why it cannot be used. It must be a
 * bare name whose real path (every symlink resolved) is a regular file inside `dir`: a link to
 * `/etc/shadow`, a device or a directory is never opened by qemu-img or QEMU. Every route and the
 * VM builder go through here. With `readable`, also whether this process may read it.
 */
export async function imageFile(dir: string, file: string, opts: { readable?: boolean } = {}): Promise<{ path: string; readable?: boolean } | { problem: ImageFileProblem }> {
  if (!file || basename(file) !== file || file.startsWith('.')) return { problem: 'unsafe' }
  const path = join(dir, file)
  let found: [string, string, Stats, boolean | undefined]
  try {
    // At once, not one after the other: each is a trip through the thread pool, and a VM start
    // waits for them. stat and access follow the links to the file the real path names.
    found = await Promise.all([
      realpath(path), realpath(dir), stat(path),
      opts.readable ? access(path, constants.R_OK).then(() => true, () => false) : undefined,
    ])
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { problem: 'missing' }
    throw err
  }
  const [real, root, st, readable] = found
  if (!real.startsWith(root + sep) || !st.isFile()) return { problem: 'unsafe' }
  return { path: real, readable }
}
