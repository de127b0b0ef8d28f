import { defineEventHandler } from 'h3'
import { useContext } from '../../server/context'
import { health } from '../../server/health'

export default defineEventHandler(async () => health(await useContext()))
