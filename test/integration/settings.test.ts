import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startServer } from '../helpers/server'

// A bad setting is refused once, at start, with its name and value: never a 500 on every request.
describe('a server given a bad setting', () => {
  let dataDir: string
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'labvirt-test-'))
  })
  afterEach(() => rm(dataDir, { recursive: true, force: true }))

  it.each([
    [{ LABVIRT_ACCEL: 'kmv' }, /server exited \(1\)[^]*LABVIRT_ACCEL must be one of auto, kvm, tcg, got kmv/],
    [{ LABVIRT_RECONCILE_INTERVAL: 'often' }, /server exited \(1\)[^]*LABVIRT_RECONCILE_INTERVAL must be a number of seconds above 0, got often/],
  ])('refuses to start with %o, saying why', async (env, message) => {
    // A fixed forward range: the refused server gets no helper-claimed block to give back.
    await expect(startServer({ LABVIRT_DATA_DIR: dataDir, LABVIRT_FORWARD_PORTS: '40000-40099', ...env })).rejects.toThrow(message)
  })
})
