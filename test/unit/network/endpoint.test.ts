import { describe, expect, it } from 'vitest'
import { seatEndpoint, tapName } from '#server/network/endpoint'
import type { Lab } from '#schemas/labs'

const lab = (over: Partial<Lab>): Lab => ({ name: 'a', description: '', size: 2, max: 4, profiles: ['p'], macBase: '52:54:00:aa:bb:00', network: { mode: 'user' }, ...over })

describe('seatEndpoint', () => {
  it('user mode: the host the terminal used, at the seat\'s forwarded port', () => {
    expect(seatEndpoint(lab({ network: { mode: 'user', hostPort: 20010 } }), 3, 'labvirt.example')).toEqual({ host: 'labvirt.example', port: 20012 })
    expect(seatEndpoint(lab({ network: { mode: 'user' } }), 1, 'h'), 'no block allocated').toBeUndefined()
  })

  it('bridge and tap mode: the seat\'s reserved IP and service port', () => {
    expect(seatEndpoint(lab({ ipBase: '10.0.0.10', network: { mode: 'bridge' } }), 2, 'h')).toEqual({ host: '10.0.0.12', port: 3389 })
    expect(seatEndpoint(lab({ ipBase: '10.0.0.10', network: { mode: 'tap', port: 5900 } }), 1, 'h')).toEqual({ host: '10.0.0.11', port: 5900 })
    expect(seatEndpoint(lab({ network: { mode: 'tap' } }), 1, 'h'), 'no IP base').toBeUndefined()
  })
})

describe('tapName', () => {
  it('is lv and the MAC\'s digits: 14 characters, distinct per MAC', () => {
    expect(tapName('52:54:00:AA:BB:01')).toBe('lv525400aabb01')
    expect(tapName('52:54:00:aa:bb:01')).toHaveLength(14)
    expect(tapName('52:54:00:aa:bb:01')).not.toBe(tapName('52:54:00:aa:bc:01'))
  })
})
