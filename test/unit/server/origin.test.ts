import { describe, expect, it } from 'vitest'
import { originAllowed } from '#server/http/origin'
import { ConfigError, readConfig } from '#server/config'

describe('originAllowed', () => {
  const host = 'labs.local:3000'
  it.each([
    [{ host }, {}],
    [{ host, origin: 'http://labs.local:3000' }, {}],
    [{ host, origin: 'http://labs.local:3000', 'sec-fetch-site': 'same-origin' }, {}],
    [{ host: 'labs.local', origin: 'https://labs.local' }, { protocol: 'https' as const }],
    [{ host: 'labs.local:80', origin: 'http://labs.local' }, {}],
    [{ host: 'internal:3000', origin: 'https://labs.example.edu' }, { publicUrl: 'https://labs.example.edu' }],
    [{ 'sec-fetch-site': 'none' }, {}],
  ])('allows %j (%j)', (headers, own) => {
    expect(originAllowed(headers, own)).toBe(true)
  })

  it.each([
    [{ host, origin: 'http://evil.example' }, {}],
    [{ host, origin: 'http://labs.local:3001' }, {}],
    [{ host, origin: 'https://labs.local:3000' }, {}],
    [{ host, origin: 'null' }, {}],
    [{ host, origin: 'file:///x' }, {}],
    [{ origin: 'http://labs.local:3000' }, {}],
    [{ host, 'sec-fetch-site': 'cross-site' }, {}],
    [{ host, 'sec-fetch-site': 'same-site', origin: 'http://labs.local:3000' }, {}],
    [{ host: 'internal:3000', origin: 'http://labs.example.edu' }, { publicUrl: 'https://labs.example.edu' }],
  ])('refuses %j (%j)', (headers, own) => {
    expect(originAllowed(headers, own)).toBe(false)
  })
})

describe('LABVIRT_PUBLIC_URL', () => {
  it('is kept as an origin', () => {
    expect(readConfig({ LABVIRT_PUBLIC_URL: 'https://Labs.Example.edu:443/' }).publicUrl).toBe('https://labs.example.edu')
    expect(readConfig({}).publicUrl).toBeUndefined()
  })

  it.each(['labs.example.edu', 'ftp://labs.example.edu', 'https://labs.example.edu/labvirt', 'https://u:p@labs.example.edu', 'https://labs.example.edu/?x=1'])(
    'refuses %s at start',
    (value) => {
      expect(() => readConfig({ LABVIRT_PUBLIC_URL: value })).toThrow(ConfigError)
    },
  )
})
