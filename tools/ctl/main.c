/* stratactl: operator CLI over each daemon's admin socket. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-V") == 0) {
		printf("stratactl %s\n", STRATA_VERSION);
		return 0;
	}
	printf("usage: stratactl [-s SOCKET] COMMAND...\n");
	return argc > 1 && strcmp(argv[1], "-h") == 0 ? 0 : 2;
}
