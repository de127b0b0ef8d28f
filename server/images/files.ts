import { realpath, stat } from 'node:fs/promises'
import { basename, join, sep } from 'node:path'

/** Why a name in the images directory cannot be used: none there, or not a regular file of it. */
export type ImageFileProblem = 'missing' | 'unsafe'

/**
 * The real path of `file` in the images directory `dir`, or why it cannot be used. It must be a
 * bare name whose real path (every symlink resolved) is a regular file inside `dir`: a link to
 * `/etc/shadow`, a device or a directory is never opened by qemu-img or QEMU. Every route and the
 * VM builder go through here.
 */
export async function imageFile(dir: string, file: string): Promise<{ path: string } | { problem: ImageFileProblem }> {
  if (!file || basename(file) !== file || file.startsWith('.')) return { problem: 'unsafe' }
  let real: string
  let root: string
  let isFile: boolean
  try {
    // At once, not one after the other: each is a trip through the thread pool, and a VM start
    // waits for them. stat follows the links to the file the real path names.
    const [r, d, st] = await Promise.all([realpath(join(dir, file)), realpath(dir), stat(join(dir, file))])
    ;[real, root, isFile] = [r, d, st.isFile()]
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { problem: 'missing' }
    throw err
  }
  if (!real.startsWith(root + sep) || !isFile) return { problem: 'unsafe' }
  return { path: real }
}
