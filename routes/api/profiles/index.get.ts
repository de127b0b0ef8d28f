import { defineEventHandler } from 'h3'
import { useContext } from '../../../server/context'
import { listProfiles } from '../../../server/profiles'

export default defineEventHandler(async () => listProfiles((await useContext()).store))
