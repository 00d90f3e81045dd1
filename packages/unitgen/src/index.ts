// @zope-systemd/unitgen: parse (config -> model), render (model + templates -> files), IO (write, verify).
export { ConfigError, TemplateError, OutputConflictError, OutputError, InputError, LockBusyError, VerifyError, formatIssue, type ConfigIssue } from './errors.js';
export { parseStack, decodeConfig, KEYS, MAX_DEPTH, type ParseOptions } from './parse.js';
export type { StackModel, ClientModel, CheckModel, CheckType, CheckRole, MemoryLimits, WarmupUrl } from './model.js';
export { CHECK_KEYS, CHECK_TYPES, CHECK_ROLES, TYPE_KEYS } from './checks.js';
export { renderWith, checkUnitShape, header, TEMPLATE_NAMES, type GeneratedFile, type RenderOptions, type TemplateSources, type Compiled, type TemplateFn } from './render.js';
export { render, createEnv, compileTemplates, loadHandlebars, type HandlebarsEnv } from './compile.js';
export { builtinTemplates } from './builtin-templates.js';
export { registerHelpers } from './helpers.js';
export { loadTemplates, defaultTemplatesDir } from './templates.js';
export { systemdEscape, systemdUnescape, execArg, execLine, unitValue, listWord, invalidUnitName } from './escape.js';
export { parseSize, parseDuration, parseAddress, formatAddress, formatDuration, formatSize, sizeBytes, expandTemplate, didYouMean, unsafeText, type Address, type Size } from './values.js';
export { plan, write, planDiff, unifiedDiff, readManifest, manifestName, type Plan, type Manifest } from './io.js';
export { generate, type GenerateOptions, type GenerateResult } from './generate.js';
export { verify, execPaths, listUnits, type VerifyOptions, type VerifyResult } from './verify.js';
export { unitReferences, unresolvedReferences, resolvesIn, SYSTEM_UNIT_PATH, type UnitReference } from './unit-references.js';
export { runGenerator, generatorMain, DEFAULT_CONFIG_DIR } from './generator.js';
export { sampleStackConfig, type SampleStackOptions } from './sample.js';
