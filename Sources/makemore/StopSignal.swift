import Foundation
import Makemore

/// SIGINT, SIGTERM and SIGHUP (a closed terminal or ssh session): the first
/// asks the training loop to stop after the current step and save; a second
/// one exits at once, leaving the last checkpoint as it was. SIGPIPE (the
/// reader of our output quit) stops the same way but never exits at once:
/// every later line printed raises it again.
enum StopSignal {
    /// The run's stop token. A signal handler cannot capture context, so
    /// the one token the process's handlers set lives here, in the CLI.
    static let token = StopToken()

    static func install() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { sig in
                if StopSignal.token.request(sig) != 0 { _exit(128 + sig) }
            }
        }
        signal(SIGPIPE) { sig in
            StopSignal.token.requestIfNone(sig)
        }
    }
}
