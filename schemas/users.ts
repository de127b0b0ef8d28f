import * as v from 'valibot'
import { Name, RecordEcho, Revision } from './common'

export const ROLES = ['admin', 'viewer'] as const
export type Role = (typeof ROLES)[number]

export const Password = v.pipe(v.string(), v.minLength(8), v.maxLength(256))

export const UserCreate = v.strictObject({
  username: Name,
  password: Password,
  role: v.picklist(ROLES),
})

export const UserUpdate = v.strictObject({
  ...RecordEcho,
  username: v.optional(Name),
  password: v.optional(Password),
  role: v.optional(v.picklist(ROLES)),
  revision: Revision,
})

export const Login = v.strictObject({
  username: v.pipe(v.string(), v.maxLength(100)),
  password: v.pipe(v.string(), v.maxLength(256)),
})

/** A user as the API shows it: never the password hash. */
export interface User {
  id: string
  username: string
  role: Role
  revision: number
  createdAt: string
  updatedAt: string
}

/** `POST /api/auth/password`: the signed-in user's current password and the new one. */
export const OwnPassword = v.strictObject({
  current: v.pipe(v.string(), v.maxLength(256)),
  password: Password,
})
