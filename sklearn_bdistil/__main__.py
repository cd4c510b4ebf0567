"""Command line: ``python -m sklearn_bdistil demo``."""

import argparse
import sys


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sklearn_bdistil")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="distil a 1-D CNN on smartwatch sensor data")
    demo.add_argument("--n-estimators", type=_positive_int, default=10,
                      help="stages of the ensemble (default 10)")
    demo.add_argument("--teacher-epochs", type=_positive_int, default=30,
                      help="epochs of the CNN teacher's training (default 30)")
    demo.add_argument("--random-state", type=int, default=0,
                      help="seed of the teacher and the ensemble (default 0)")
    demo.add_argument("--quiet", action="store_true", help="no per-stage fit log")
    demo.add_argument("--plot", default="bdistil_demo.png",
                      help="where to write the accuracy-vs-cost PNG (default bdistil_demo.png; "
                           "'' for none)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from sklearn_bdistil._demo import run_demo

        run_demo(n_estimators=args.n_estimators, teacher_epochs=args.teacher_epochs,
                 random_state=args.random_state, verbose=0 if args.quiet else 1,
                 plot_path=args.plot or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
