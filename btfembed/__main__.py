from btfembed.cli import main

raise SystemExit(main())
