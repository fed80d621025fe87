// The registry domain names of a TCR Enterprise instance: its default domain and its dedicated private (-vpc) domain.
//
// An instance named `demo` serves `demo.tencentcloudcr.com` (the API's PublicDomain) and, inside VPCs linked to it,
// also `demo-vpc.tencentcloudcr.com` (the domain DescribeInternalEndpointDnsStatus calls "instancename-vpc" when
// UsePublicDomain is false). Custom domains come from DescribeInstanceCustomizedDomain.

/** The root domain of every default and dedicated private TCR domain. */
export const tcrRootDomain = "tencentcloudcr.com"

/** `<name>.tencentcloudcr.com`, or the instance's PublicDomain when the API reported one. */
export const defaultDomainOf = (instance: { readonly name: string; readonly publicDomain?: string | undefined }) =>
  instance.publicDomain !== undefined && instance.publicDomain !== ""
    ? instance.publicDomain.toLowerCase()
    : `${instance.name.toLowerCase()}.${tcrRootDomain}`

/** `<name>-vpc.tencentcloudcr.com`: the default domain with `-vpc` appended to its first label. */
export const privateDomainOf = (instance: { readonly name: string; readonly publicDomain?: string | undefined }) => {
  const [first, ...rest] = defaultDomainOf(instance).split(".")
  return [`${first}-vpc`, ...rest].join(".")
}
