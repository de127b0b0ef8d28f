import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { imageFile } from '#server/images/files'

// What the images directory lets qemu-img and QEMU open: real files of its own, by bare name.

let root: string
let images: string
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'labvirt-images-'))
  images = join(root, 'images')
  await mkdir(images)
  await writeFile(join(images, 'win11.qcow2'), 'x')
  await writeFile(join(root, 'secret'), 'x')
})
afterEach(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('imageFile', () => {
  it('gives the real path of a file of the images directory, readable when asked', async () => {
    expect(await imageFile(images, 'win11.qcow2')).toEqual({ path: join(images, 'win11.qcow2') })
    expect(await imageFile(images, 'win11.qcow2', { readable: true })).toEqual({ path: join(images, 'win11.qcow2'), readable: true })
    // A link inside the directory to a file of its own is that file.
    await symlink('win11.qcow2', join(images, 'current.qcow2'))
    expect(await imageFile(images, 'current.qcow2', { readable: true })).toEqual({ path: join(images, 'win11.qcow2'), readable: true })
  })

  it('refuses names that are not bare, links leaving the directory, directories, and says when none is there', async () => {
    await symlink(join(root, 'secret'), join(images, 'escape.qcow2'))
    await mkdir(join(images, 'dir.qcow2'))
    for (const name of ['../secret', 'a/b.qcow2', '.hidden', '', 'escape.qcow2', 'dir.qcow2']) {
      expect(await imageFile(images, name, { readable: true }), name).toEqual({ problem: 'unsafe' })
    }
    expect(await imageFile(images, 'gone.qcow2', { readable: true })).toEqual({ problem: 'missing' })
    expect(await imageFile(join(root, 'no-such-dir'), 'win11.qcow2')).toEqual({ problem: 'missing' })
  })
})
