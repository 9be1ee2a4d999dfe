"""``npvae gradcheck``: the gradient checks, a user's layer and the exercises."""

from ..teaching.checks import (BROKEN, EXERCISES, Section, broken, judge, report, standard_sections,
                               user_layer_rows)
from ..teaching.student import CouldNotCheck, Student


def checking(spec, check):
    """``check()``, with anything the user's code makes it raise (beyond what ``Student.call``
    already catches: an attribute that raises, an array of objects, ...) as CouldNotCheck: one
    line, exit status 2, never a traceback."""
    try:
        return check()
    except (CouldNotCheck, KeyboardInterrupt, MemoryError):
        raise
    except Exception as error:
        raise CouldNotCheck(f"could not check {spec}: {type(error).__name__}: "
                            f"{str(error).splitlines()[0] if str(error) else '(no message)'}")\
            from None


def gradcheck(args):
    """Exit status 0 when every check passes, 1 when one fails, 2 when the user's code could
    not be checked (it could not be loaded, built or run: one line saying where)."""
    exercise = args.exercise or (("adam", args.optimizer) if args.optimizer else None)
    if args.broken and (exercise or args.layer):
        raise ValueError("--broken breaks npvae's own formulas, to show a failing report; it "
                         "does not combine with --exercise, --optimizer or --layer")
    if exercise is not None:
        name, spec = exercise
        if name not in EXERCISES:
            raise ValueError(f"--exercise: no exercise {name!r}; expected one of "
                             f"{', '.join(EXERCISES)}")
        text, passed = checking(spec, lambda: judge(name, Student(spec), args.seed))
    elif args.layer:
        rows = checking(args.layer, lambda: user_layer_rows(Student(args.layer), args.inputs,
                                                            args.outputs, args.seed))
        text, passed = report([Section(f"{args.layer} (your layer)", rows)])
    elif args.broken:
        print(f"BROKEN on purpose ({args.broken}): {BROKEN[args.broken][2]}\n")
        with broken(args.broken):
            text, passed = report(standard_sections(args.seed))
    else:
        text, passed = report(standard_sections(args.seed))
    print(text)
    return 0 if passed else 1
