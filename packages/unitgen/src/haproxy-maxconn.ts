// How many requests HAProxy gives one instance at once (`maxconn` on every server), and where that number came from.
//
// A Zope instance serves as many requests at once as waitress has worker threads and queues the rest inside itself,
// where HAProxy can no longer move them to another server. So every server gets maxconn = the instance's threads:
// a busy or hung instance then holds only the requests it already has, and the rest wait in HAProxy's queue for a
// free slot on any server. Without maxconn HAProxy sent a hung one-thread instance every second request (HAProxy 2.6,
// measured), each of which hung until the hang was detected.
//
// zunitgen does not write or read the instances' own configuration (the client command is opaque: `bin/client1
// console`, `runwsgi etc/zope.ini`, a container; and the generated units must depend on the stack file alone, so
// that `generate` and the boot-time generator agree). Without `clients.threads` it assumes waitress's default,
// which is what Plone 6 instances run when nothing sets a number: waitress's own default (4), kept by Zope's runwsgi
// with cookiecutter-zope-instance's zope.ini (wsgi_threads 4) and by plone.recipe.zope2instance (threads 4 for WSGI).
// The plone-backend image's etc/zope.ini sets threads = 2: such stacks set clients.threads.

/** waitress's default number of worker threads (waitress.adjustments.Adjustments.threads). */
const WAITRESS_DEFAULT_THREADS = 4;

/** Where a stack's server maxconn comes from: haproxy.maxconn, clients.threads, or waitress's default. */
export type MaxconnSource = 'haproxy.maxconn' | 'clients.threads' | 'waitress-default';

/** The maxconn of every server: haproxy.maxconn over clients.threads over waitress's default. */
export function serverMaxconn(maxconn: number | undefined, threads: number | undefined): { maxconn: number; maxconnFrom: MaxconnSource } {
  if (maxconn !== undefined) return { maxconn, maxconnFrom: 'haproxy.maxconn' };
  if (threads !== undefined) return { maxconn: threads, maxconnFrom: 'clients.threads' };
  return { maxconn: WAITRESS_DEFAULT_THREADS, maxconnFrom: 'waitress-default' };
}

/** Where the number came from, for the backend file's comment: "clients.threads (the instances' worker threads)". */
export function maxconnOrigin(from: MaxconnSource): string {
  switch (from) {
    case 'haproxy.maxconn': return 'haproxy.maxconn in the stack file';
    case 'clients.threads': return 'clients.threads, the instances\' worker threads';
    case 'waitress-default': return `waitress's default of ${WAITRESS_DEFAULT_THREADS} worker threads, assumed since clients.threads is not set`;
  }
}
