#!/usr/bin/env node
// The generator entry installed (through a wrapper script) in /etc/systemd/system-generators.
// Deliberately tiny: no CLI parser, only what generating needs.
import { generatorMain } from './generator-mode.js';

process.exitCode = generatorMain(process.argv.slice(2));
