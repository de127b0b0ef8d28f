export const OUT: string
export function escapeMessage(text: string): string
export function uiMessages(): Record<string, Record<string, string>>
export function writeUiMessages(): void
