import type { Role } from '#schemas/users'

export type Access = 'public' | 'session' | 'admin'

const PUBLIC = new Set(['/api/health', '/api/auth/login'])
// A viewer changes their own password too (the route proves the current one).
const ANY_ROLE_WRITES = new Set(['/api/auth/logout', '/api/auth/password'])
/** Reads that reach into a VM (its screen): admins only. */
const ADMIN_READS = /^\/api\/vms\/[^/]+\/(?:console|vnc)$/

/**
 * Who may call a route: the terminal routes and health are public (terminals have no session),
 * reads need a session, writes need an administrator. Everything outside /api is the UI.
 */
export function accessFor(method: string, path: string): Access {
  const p = path.split('?')[0]!.replace(/\/+$/, '') || '/'
  if (!p.startsWith('/api/') && p !== '/api') return 'public'
  if (PUBLIC.has(p) || p === '/api/terminal' || p.startsWith('/api/terminal/')) return 'public'
  if (ADMIN_READS.test(p)) return 'admin'
  if (method === 'GET' || method === 'HEAD' || ANY_ROLE_WRITES.has(p)) return 'session'
  return 'admin'
}

export function allows(access: Access, role: Role | undefined): boolean {
  if (access === 'public') return true
  if (!role) return false
  return access === 'session' || role === 'admin'
}
