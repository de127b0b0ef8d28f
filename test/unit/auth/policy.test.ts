import { describe, expect, it } from 'vitest'
import { accessFor, allows, type Access } from '#server/auth/policy'

describe('accessFor', () => {
  const cases: [string, string, Access][] = [
    // Public: health, login, the terminal routes (terminals have no session), and the UI.
    ['GET', '/api/health', 'public'],
    ['GET', '/api/health?x=1', 'public'],
    ['GET', '/api/health/', 'public'],
    ['POST', '/api/auth/login', 'public'],
    ['GET', '/api/terminal', 'public'],
    ['GET', '/api/terminal?mac=52:54:00:00:00:01&format=rdp', 'public'],
    ['POST', '/api/terminal/heartbeat', 'public'],
    ['GET', '/', 'public'],
    ['GET', '/index.html', 'public'],
    ['GET', '/assets/app.js', 'public'],
    // Reads need a session.
    ['GET', '/api/labs', 'session'],
    ['GET', '/api/labs/a1', 'session'],
    ['HEAD', '/api/labs', 'session'],
    ['GET', '/api/auth/me', 'session'],
    ['GET', '/api/terminals', 'session'],
    ['GET', '/api/events', 'session'],
    ['GET', '/api', 'session'],
    ['GET', '/api/', 'session'],
    ['GET', '/api/nonexistent', 'session'],
    ['GET', '/api/stream', 'session'],
    // A VM's screen is an admin's, even to look at.
    ['GET', '/api/vms/l1-1/console', 'admin'],
    ['GET', '/api/vms/l1-1/vnc?lang=es', 'admin'],
    ['GET', '/api/vms/l1-1', 'session'],
    // Logout is a write anyone signed in may do.
    ['POST', '/api/auth/logout', 'session'],
    ['POST', '/api/auth/password', 'session'],
    // Every other write needs an administrator.
    ['POST', '/api/labs', 'admin'],
    ['PUT', '/api/labs/a1', 'admin'],
    ['PATCH', '/api/labs/a1', 'admin'],
    ['DELETE', '/api/labs/a1', 'admin'],
    ['DELETE', '/api/labs/a1?revision=2', 'admin'],
    ['POST', '/api/users', 'admin'],
    ['POST', '/api/terminals', 'admin'],
    ['POST', '/api/auth/me', 'admin'],
    ['OPTIONS', '/api/labs', 'admin'],
    // Lookalikes of the public routes are not public.
    ['GET', '/api/terminals', 'session'],
    ['POST', '/api/terminals', 'admin'],
    ['GET', '/api/terminalx', 'session'],
    ['GET', '/api/healthz', 'session'],
    ['GET', '/api/health/extra', 'session'],
    ['POST', '/api/auth/login/x', 'admin'],
    ['POST', '/api/auth/logout/x', 'admin'],
    ['GET', '/apix', 'public'],
  ]
  it.each(cases.map(([method, path, access]) => ({ method, path, access })))('$method $path -> $access', ({ method, path, access }) => {
    expect(accessFor(method, path)).toBe(access)
  })
})

describe('allows', () => {
  it('lets anyone through a public route', () => {
    expect(allows('public', undefined)).toBe(true)
    expect(allows('public', 'viewer')).toBe(true)
    expect(allows('public', 'admin')).toBe(true)
  })
  it('needs a user for a session route', () => {
    expect(allows('session', undefined)).toBe(false)
    expect(allows('session', 'viewer')).toBe(true)
    expect(allows('session', 'admin')).toBe(true)
  })
  it('needs an administrator for an admin route', () => {
    expect(allows('admin', undefined)).toBe(false)
    expect(allows('admin', 'viewer')).toBe(false)
    expect(allows('admin', 'admin')).toBe(true)
    expect(allows('admin', 'root' as never)).toBe(false)
  })
})
