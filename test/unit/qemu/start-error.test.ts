import { describe, expect, it } from 'vitest'
import { qemuStartError } from '#server/qemu/start-error'

describe('qemuStartError', () => {
  it('names the forwarded host port another program holds (QEMU 7.2 words)', () => {
    const out = "qemu-system-x86_64: -netdev user,id=net0,hostfwd=tcp:127.0.0.1:23456-:3389: Could not set up host forwarding rule 'tcp:127.0.0.1:23456-:3389'"
    expect(qemuStartError(out)).toEqual({ msgid: expect.stringMatching(/^Host port \{port\} is in use/), params: { port: 23456 } })
    expect(qemuStartError("x: Could not set up host forwarding rule 'tcp::20000-:22'").params).toEqual({ port: 20000 })
  })

  it('passes anything else on as QEMU said it', () => {
    expect(qemuStartError('qemu-system-x86_64: -drive x: No such file')).toEqual({ msgid: 'QEMU: {output}', params: { output: 'qemu-system-x86_64: -drive x: No such file' } })
  })
})
