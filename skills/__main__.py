from skills.cli import main

raise SystemExit(main())
