// The sample account `npm run tcr-double` serves, and the README's quick start installs from: one Running TCR
// instance in ap-guangzhou with its two standard domains, a bound custom domain and a Running VPC link whose private
// DNS already resolves the dedicated -vpc domain (but not the default one).
import type { DoubleInstance, TcrDouble } from "./tcr-double.ts"

export const demoRegion = "ap-guangzhou"
export const demoInstanceId = "tcr-demo0001"
export const demoInstanceName = "demo"
export const demoVpcId = "vpc-demo0001"
export const demoAccessIp = "10.0.8.15"
export const demoCustomDomain = "registry.demo.example"

/** Seeds the sample instance into a double; returns it. */
export const seedDemoInstance = (double: TcrDouble): DoubleInstance => {
  const instance = double.seedInstance({
    id: demoInstanceId,
    name: demoInstanceName,
    region: demoRegion,
    customDomains: [demoCustomDomain],
    vpcLinks: [{ vpcId: demoVpcId, accessIp: demoAccessIp, status: "Running" }]
  })
  // TCR's private-network DNS (console: Access Control > Private Network Access > auto-resolve) is on for the -vpc
  // domain only, so the quick start shows both outcomes of `--private-resolution auto`.
  double.setPrivateDns(instance.id, demoVpcId, true, { usePublicDomain: false })
  return instance
}
