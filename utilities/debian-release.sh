# Shell functions: the names of the Debian releases we support.  A
# release goes by its codename (bookworm, trixie, sid), as Debian's
# archive and root file systems name it, or by its stack name
# (debian-12, debian-13, sid), as the test results name it.

# va_release_codename NAME: prints NAME's codename; returns 1, printing
# nothing, for a release we do not support.
va_release_codename() {
    case $1 in
        bookworm|debian-12) echo bookworm ;;
        trixie|debian-13) echo trixie ;;
        sid|unstable) echo sid ;;
        *) return 1 ;;
    esac
}

# va_release_stack NAME: prints NAME's stack name; returns 1, printing
# nothing, for a release we do not support.
va_release_stack() {
    case $1 in
        bookworm|debian-12) echo debian-12 ;;
        trixie|debian-13) echo debian-13 ;;
        sid|unstable) echo sid ;;
        *) return 1 ;;
    esac
}
