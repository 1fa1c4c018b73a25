// Placeholder: filled in by its owner.
import type { Command } from 'commander';
import type { Io } from './shared.js';

export function registerBackup(_program: Command, _io: Io): void {}
