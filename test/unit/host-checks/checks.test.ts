import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runChecks } from '#server/host-checks/index'
import type { Context } from '#server/context'

const dataDir = mkdtempSync(join(tmpdir(), 'host-checks-'))
const ctx = (diskReserveBytes: number, qemu = 'qemu-system-x86_64') =>
  ({ config: { dataDir, diskReserveBytes, qemu }, store: { kv: { ping: async () => {} } } }) as unknown as Context

describe('host checks', () => {
  it('disk is an error when free space is below the reserve, ok with a small reserve', async () => {
    const [full] = await runChecks(ctx(2 ** 60), ['disk'])
    expect(full).toMatchObject({ id: 'disk', ok: false, level: 'error' })
    const [fine] = await runChecks(ctx(1), ['disk'])
    expect(fine).toMatchObject({ id: 'disk', ok: true, level: 'ok' })
  })

  it('qemu is an error when the binary is missing', async () => {
    const [r] = await runChecks(ctx(1, '/nonexistent/qemu'), ['qemu'])
    expect(r).toMatchObject({ level: 'error', message: { params: { command: '/nonexistent/qemu' } } })
  })

  it('store is ok when it answers ping', async () => {
    const [r] = await runChecks(ctx(1), ['store'])
    expect(r!.level).toBe('ok')
  })
})
