import { describe, expect, it } from 'vitest'
import { isSameOrigin } from '#server/http/origin'

const req = (url: string, origin?: string) => ({ url, headers: new Headers(origin === undefined ? {} : { origin }) })

describe('isSameOrigin', () => {
  it.each([
    ['http://lab.example:3000/api/vms/a-1/vnc', 'http://lab.example:3000', true],
    ['https://lab.example/api/vms/a-1/vnc', 'https://lab.example', true],
    ['http://lab.example:3000/x', 'http://lab.example:3001', false],
    ['http://lab.example:3000/x', 'https://lab.example:3000', false],
    ['http://lab.example:3000/x', 'http://evil.example:3000', false],
    ['http://lab.example:3000/x', 'http://lab.example.evil.example:3000', false],
    ['http://lab.example:3000/x', 'null', false],
    ['http://lab.example:3000/x', '', false],
    ['http://lab.example:3000/x', undefined, false],
  ])('%s from Origin %j: %s', (url, origin, ok) => {
    expect(isSameOrigin(req(url, origin))).toBe(ok)
  })

  it('also allows a configured public URL, by its origin only', () => {
    const publicUrl = 'https://labvirt.uni.example/console/'
    expect(isSameOrigin(req('http://127.0.0.1:3000/x', 'https://labvirt.uni.example'), publicUrl)).toBe(true)
    expect(isSameOrigin(req('http://127.0.0.1:3000/x', 'http://labvirt.uni.example'), publicUrl)).toBe(false)
    expect(isSameOrigin(req('http://127.0.0.1:3000/x', 'https://labvirt.uni.example'), 'not a url')).toBe(false)
  })
})
