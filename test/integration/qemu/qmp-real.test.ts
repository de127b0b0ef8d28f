import { existsSync } from 'node:fs'
import { execa } from 'execa'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { connectWithRetry, QmpClient, QmpClosedError, QmpCommandError, QmpTimeoutError, type ShutdownEventData } from '#server/qemu/qmp/index'
import { alive, QemuHarness, until } from '../../helpers/qemu'

const harness = new QemuHarness()
const clients: QmpClient[] = []
afterEach(() => {
  for (const c of clients.splice(0)) c.close()
})
afterAll(() => harness.dispose())

async function attach(path: string) {
  const client = await connectWithRetry(path, { deadlineMs: 5_000 })
  clients.push(client)
  return client
}

describe('QMP against a real QEMU (TCG)', () => {
  it('greets, negotiates and reports running', async () => {
    const vm = await harness.start()
    const client = await attach(vm.qmp)
    expect(client.greeting.QMP.version.qemu.major).toBeGreaterThanOrEqual(7)
    expect(client.greeting.QMP.capabilities).toContain('oob')
    expect(await client.execute('query-status')).toMatchObject({ status: 'running', running: true })
  })

  it('maps a bad command to QmpCommandError with QMP class', async () => {
    const vm = await harness.start()
    const client = await attach(vm.qmp)
    const notFound = (await client.executeRaw('no-such-command').catch((e) => e)) as QmpCommandError
    expect(notFound).toBeInstanceOf(QmpCommandError)
    expect(notFound.class).toBe('CommandNotFound')
    expect(notFound.desc).toMatch(/no-such-command/)
    const generic = (await client.executeRaw('query-status', { bogus: 1 }).catch((e) => e)) as QmpCommandError
    expect(generic).toBeInstanceOf(QmpCommandError)
    expect(generic.class).toBe('GenericError')
    // The connection survives command errors.
    expect((await client.execute('query-status')).running).toBe(true)
  })

  it('stop and cont emit STOP and RESUME', async () => {
    const vm = await harness.start()
    const client = await attach(vm.qmp)
    const stream = client.events()
    const stopped = client.waitForEvent('STOP')
    await client.execute('stop')
    await stopped
    expect(await client.execute('query-status')).toMatchObject({ status: 'paused', running: false })
    const resumed = client.waitForEvent('RESUME')
    await client.execute('cont')
    await resumed
    expect(await client.execute('query-status')).toMatchObject({ status: 'running', running: true })
    const names = [(await stream.next()).value?.event, (await stream.next()).value?.event]
    expect(names).toEqual(['STOP', 'RESUME'])
    await stream.return!()
  })

  it('quit: SHUTDOWN, then the connection closes and QEMU exits, leaving only the VNC socket', async () => {
    const vm = await harness.start()
    const client = await attach(vm.qmp)
    const shutdown = client.waitForEvent<ShutdownEventData>('SHUTDOWN')
    await client.quit()
    expect((await shutdown).data).toEqual({ guest: false, reason: 'host-qmp-quit' })
    expect(await client.closed).toBeInstanceOf(QmpClosedError)
    await expect(client.execute('query-status')).rejects.toBeInstanceOf(QmpClosedError)
    await until(async () => !(await alive(vm.pid)), 5_000, 'QEMU exit')
    expect(existsSync(vm.pidfile)).toBe(false)
    expect(existsSync(vm.qmp)).toBe(false)
    expect(existsSync(vm.vnc)).toBe(true)
  })

  it('serves one client at a time; the next attaches once the first closes', async () => {
    const vm = await harness.start()
    const first = await attach(vm.qmp)
    const second = await QmpClient.connect(vm.qmp, { timeoutMs: 300 }).catch((e) => e)
    expect(second).toBeInstanceOf(QmpTimeoutError)
    first.close()
    const again = await attach(vm.qmp)
    expect((await again.execute('query-status')).running).toBe(true)
  })

  it('re-attaches after the client process was SIGKILLed', async () => {
    const vm = await harness.start()
    // Another process holds the QMP connection, as a LabVirt that crashes would.
    const holder = execa(
      process.execPath,
      [
        '-e',
        `const s = require('node:net').createConnection(${JSON.stringify(vm.qmp)});
         s.once('data', () => { s.write('{"execute":"qmp_capabilities"}\\n'); s.once('data', () => console.log('attached')) })`,
      ],
      { reject: false, timeout: 20_000 },
    )
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.on('data', (d: Buffer) => d.toString().includes('attached') && resolve())
        holder.once('exit', () => reject(new Error('holder exited early')))
        setTimeout(() => reject(new Error('holder did not attach')), 5_000)
      })
      const blocked = await QmpClient.connect(vm.qmp, { timeoutMs: 200 }).catch((e) => e)
      expect(blocked).toBeInstanceOf(QmpTimeoutError)
    } finally {
      holder.kill('SIGKILL')
      await holder
    }
    const client = await attach(vm.qmp)
    expect((await client.execute('query-status')).running).toBe(true)
  })

  it('reconnects to a QEMU restarted on the same socket path', async () => {
    const vm = await harness.start()
    const client = await attach(vm.qmp)
    await client.quit()
    await client.closed
    await until(async () => !(await alive(vm.pid)), 5_000, 'QEMU exit')
    // Start the reconnect first: it retries until the new QEMU listens.
    const reconnecting = connectWithRetry(vm.qmp, { deadlineMs: 10_000 })
    const vm2 = await harness.start({ runDir: vm.runDir, name: vm.name })
    const again = await reconnecting
    clients.push(again)
    expect(vm2.pid).not.toBe(vm.pid)
    expect((await again.execute('query-status')).running).toBe(true)
  })
})
